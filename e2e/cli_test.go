package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/cli"
)

// twoTasksYAML is the two-document manifest of the CLI test: an HTTP
// server with a published port, and a task printing a line every 200ms.
const twoTasksYAML = `apiVersion: cubelet/v1
kind: Task
metadata:
  name: web
  labels: {app: web}
spec:
  image: %[1]s
  args: ["--listen", ":8080"]
  ports: [{containerPort: 8080}]
---
# the printer: its output is what logs -f must show
apiVersion: cubelet/v1
kind: Task
metadata:
  name: printer
spec:
  image: %[1]s
  args: ["--print-every", "200ms"]
`

func TestE2E_CLI_ApplyWatchLogsRoundTripAndDeleteWait(t *testing.T) {
	e := newEnv(t)
	c := e.start()
	manifest := filepath.Join(t.TempDir(), "tasks.yaml")
	if err := os.WriteFile(manifest, fmt.Appendf(nil, twoTasksYAML, e.image), 0o600); err != nil {
		t.Fatal(err)
	}

	// get -w first, so it sees the tasks from their creation on.
	watch := c.startCLI("get", "-w")
	watch.expect(30*time.Second, "the table header", func(l string) bool { return strings.HasPrefix(l, "NAME ") })

	if out := c.cli("", "apply", "-f", manifest); out != "task/web created\ntask/printer created\n" {
		t.Fatalf("apply printed %q", out)
	}

	states := map[string][]string{}
	watch.expect(90*time.Second, "web and printer Running", func(l string) bool {
		f := strings.Fields(l)
		if len(f) < 2 {
			return false
		}
		states[f[0]] = append(states[f[0]], f[1])
		return last(states["web"]) == "Running" && last(states["printer"]) == "Running"
	})
	for _, name := range []string{"web", "printer"} {
		if s := states[name]; s[0] == "Running" {
			t.Errorf("%s: get -w printed %v, want the transitions before Running", name, s)
		}
	}
	if err := watch.interrupt(); err != nil {
		t.Errorf("get -w on Ctrl-C: %v, want a clean exit", err)
	}

	logs := c.startCLI("logs", "-f", "printer")
	logs.expect(30*time.Second, "the workload's start line", func(l string) bool { return strings.Contains(l, "started") })
	logs.expect(30*time.Second, "a third printed line, live", func(l string) bool { return l == "line 3" })
	if err := logs.interrupt(); err != nil {
		t.Errorf("logs -f on Ctrl-C: %v, want a clean exit", err)
	}

	before, _ := c.get("web")
	if out := c.pipeCLI([]string{"get", "-o", "yaml", "web"}, []string{"apply", "-f", "-"}); out != "task/web unchanged\n" {
		t.Errorf("get -o yaml | apply -f - printed %q, want unchanged", out)
	}
	after, _ := c.get("web")
	if after.Generation != before.Generation || after.Spec.DesiredState != v1.Running {
		t.Errorf("round trip: generation %d -> %d", before.Generation, after.Generation)
	}

	for _, name := range []string{"web", "printer"} {
		if len(e.containers(name)) == 0 {
			t.Fatalf("%s has no container before delete", name)
		}
		if out := c.cli("", "delete", name, "--wait", "--timeout", "60s"); out != "task/"+name+" deleted\n" {
			t.Errorf("delete printed %q", out)
		}
		if cs := e.containers(name); len(cs) != 0 {
			t.Errorf("delete --wait returned while %s still has containers %+v", name, cs)
		}
		if _, code := c.get(name); code != http.StatusNotFound {
			t.Errorf("GET %s after delete --wait = %d, want 404", name, code)
		}
	}

	_, stderr, err := c.runCLI("", "get", "web")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 || !strings.Contains(stderr, `tasks.cubelet "web" not found`) {
		t.Errorf("get of a deleted task: err %v, stderr %q; want a non-zero exit with the server's message", err, stderr)
	}
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// runCLI runs the built binary as a client of c (found through
// CUBELET_SERVER, as a user's shell would) and returns stdout and stderr.
func (c *cubelet) runCLI(stdin string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := c.cliCommand(ctx, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// cli runs a client command that must succeed and returns its stdout.
func (c *cubelet) cli(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.runCLI(stdin, args...)
	if err != nil {
		c.t.Fatalf("cubelet %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (c *cubelet) cliCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), cli.ServerEnv+"="+c.base)
	return cmd
}

// pipeCLI runs `cubelet first... | cubelet second...` through a real pipe
// and returns the second command's stdout.
func (c *cubelet) pipeCLI(first, second []string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	producer, consumer := c.cliCommand(ctx, first...), c.cliCommand(ctx, second...)
	pipe, err := producer.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	consumer.Stdin = pipe
	var out, errs syncBuffer
	consumer.Stdout, consumer.Stderr, producer.Stderr = &out, &errs, &errs
	if err := producer.Start(); err != nil {
		c.t.Fatalf("start %v: %v", first, err)
	}
	if err := consumer.Run(); err != nil {
		c.t.Fatalf("%v | %v: %v\n%s", first, second, err, errs.String())
	}
	if err := producer.Wait(); err != nil {
		c.t.Fatalf("%v: %v\n%s", first, err, errs.String())
	}
	return out.String()
}

// streamingCLI is a long-running client command (get -w, logs -f) whose
// stdout the test reads line by line as it comes.
type streamingCLI struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
	done   chan error
	seen   []string
}

func (c *cubelet) startCLI(args ...string) *streamingCLI {
	c.t.Helper()
	cmd := c.cliCommand(context.Background(), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	s := &streamingCLI{t: c.t, cmd: cmd, lines: make(chan string, 1024), stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start cubelet %v: %v", args, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
		s.done <- cmd.Wait()
	}()
	// Kill unconditionally: reading cmd.ProcessState here would race with
	// the Wait above, and killing an exited process is a harmless error.
	c.t.Cleanup(func() { _ = cmd.Process.Kill() })
	return s
}

// expect reads lines until match holds for one, failing the test at the
// deadline or when the command ends first.
func (s *streamingCLI) expect(timeout time.Duration, what string, match func(string) bool) {
	s.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				s.t.Fatalf("%v ended before %s; output:\n%s\nstderr: %s", s.cmd.Args[1:], what,
					strings.Join(s.seen, "\n"), s.stderr.String())
			}
			s.seen = append(s.seen, l)
			if match(l) {
				return
			}
		case <-deadline.C:
			s.t.Fatalf("timed out after %s waiting for %s from %v; output:\n%s\nstderr: %s", timeout, what,
				s.cmd.Args[1:], strings.Join(s.seen, "\n"), s.stderr.String())
		}
	}
}

// interrupt sends SIGINT, as Ctrl-C does, and returns the exit error.
func (s *streamingCLI) interrupt() error {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return fmt.Errorf("signal: %w", err)
	}
	go func() {
		for range s.lines { // drain, so the reader goroutine reaches Wait
		}
	}()
	select {
	case err := <-s.done:
		if err != nil {
			return fmt.Errorf("%w; stderr: %s", err, s.stderr.String())
		}
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("did not exit within 30s of SIGINT")
	}
}
