package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/hack/testimage"
	"github.com/cubelet/cubelet/runtime"
)

// binary is the cubelet executable built once for the package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cubelet-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "cubelet")
	build := exec.Command("go", "build", "-race", "-o", binary, "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build cubelet:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects a process's output for assertions.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is one test's world: the image, the Docker client, a data dir.
type env struct {
	t       *testing.T
	image   string
	docker  *runtime.Docker
	dataDir string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	image := testimage.Require(t)
	testimage.LockHost(t)
	docker, err := runtime.NewDocker("")
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	e := &env{t: t, image: image, docker: docker, dataDir: t.TempDir()}
	e.removeManaged()
	t.Cleanup(func() {
		e.removeManaged()
		docker.Close()
	})
	return e
}

// removeManaged clears every managed container, so tests start clean.
func (e *env) removeManaged() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := e.docker.ListContainers(ctx, controller.LabelManaged, "true")
	if err != nil {
		e.t.Fatalf("list managed containers: %v", err)
	}
	for _, c := range cs {
		if err := e.docker.RemoveContainer(ctx, c.ID); err != nil {
			e.t.Errorf("remove %s: %v", c.Name, err)
		}
	}
}

// containers returns the managed containers of a task.
func (e *env) containers(task string) []runtime.Container {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := e.docker.ListContainers(ctx, controller.LabelTask, task)
	if err != nil {
		e.t.Fatalf("list containers of %s: %v", task, err)
	}
	var managed []runtime.Container
	for _, c := range cs {
		if c.Labels[controller.LabelManaged] == "true" {
			managed = append(managed, c)
		}
	}
	return managed
}

// cubelet is one running cubelet process.
type cubelet struct {
	t   *testing.T
	cmd *exec.Cmd
	// base is a URL that reaches this cubelet: for e.start, a loopback TCP
	// port the harness forwards to the socket (forwardToSocket), so that
	// tests with any HTTP client or the CLI reach it without a token.
	base string
	// socket is the cubelet's Unix socket; client dials it whatever the
	// URL's host, so client.Get(c.base+path) goes straight to the socket.
	socket string
	client *http.Client
	logs   *syncBuffer
	done   chan error
}

// start runs cubelet serve on its own Unix socket over the env's data dir
// and waits until it is ready. It serves no TCP unless extra asks.
func (e *env) start(extra ...string) *cubelet {
	e.t.Helper()
	args := append([]string{"--resync", "1h", "--backoff-base", "200ms", "--drain-timeout", "20s"}, extra...)
	c := e.spawn("", args...)
	c.waitReady()
	return c
}

func (c *cubelet) waitReady() {
	c.t.Helper()
	c.waitReadyWith(c.client)
}

// withSocket gives a cubelet its own socket unless args name one: every
// cubelet of a test must have its own, and the default path belongs to
// the host's cubelet, not to tests. The directory is short (a socket
// path has at most 107 bytes) and 0755, as /run/cubelet is, so that only
// the socket's own mode keeps other users out.
func (e *env) withSocket(args []string) ([]string, string) {
	e.t.Helper()
	for i, a := range args {
		if a == "--socket" && i+1 < len(args) {
			return args, args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--socket="); ok {
			return args, v
		}
	}
	dir, err := os.MkdirTemp("", "cubelet-e2e-")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	socket := filepath.Join(dir, "cubelet.sock")
	return append([]string{"--socket", socket}, args...), socket
}

// useSocket points c's client at its socket and, when the caller gave no
// base URL, gives it a forwarded loopback one.
func (c *cubelet) useSocket(socket string) {
	c.socket = socket
	c.client = unixClient(socket)
	if c.base == "" {
		c.base = "http://" + forwardToSocket(c.t, socket)
	}
}

// unixClient is an HTTP client that dials socket for every request.
func unixClient(socket string) *http.Client {
	var d net.Dialer
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socket)
		},
	}}
}

// forwardToSocket listens on a free loopback port and relays each
// connection to socket, and returns the port's address. It stands in for
// the TCP listener tests used to get, so helpers that take a URL (the CLI
// through CUBELET_SERVER, tryPut, plain http.Get) keep working; cubelet
// itself serves no TCP without a token. A connection made while cubelet
// is down is closed at once, as a refused one would fail.
func forwardToSocket(t *testing.T, socket string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		open = map[net.Conn]bool{}
	)
	// Cleanup runs before the cubelet is stopped: cut the streams still
	// relayed (watches), or waiting for them would wait for the stop.
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open[in] = true
			mu.Unlock()
			wg.Go(func() {
				relay(in, socket)
				mu.Lock()
				delete(open, in)
				mu.Unlock()
			})
		}
	})
	return l.Addr().String()
}

// relay copies between in and a new connection to socket. The exchange
// ends when cubelet's side does; the client's end of sending is passed on
// as a half-close, which cubelet answers by closing once it has replied.
func relay(in net.Conn, socket string) {
	defer in.Close()
	out, err := net.Dial("unix", socket)
	if err != nil {
		return
	}
	defer out.Close()
	go func() {
		_, _ = io.Copy(out, in)
		_ = out.(*net.UnixConn).CloseWrite()
	}()
	_, _ = io.Copy(in, out)
}

// kill9 kills cubelet with SIGKILL and waits for it.
func (c *cubelet) kill9() {
	c.t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		c.t.Fatalf("kill cubelet: %v", err)
	}
	<-c.done
}

// stop sends SIGTERM and returns the exit error.
func (c *cubelet) stop() error {
	c.t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatalf("signal cubelet: %v", err)
	}
	select {
	case err := <-c.done:
		return err
	case <-time.After(60 * time.Second):
		c.t.Fatal("cubelet did not exit within 60s of SIGTERM")
		return nil
	}
}

// do sends a request with an optional JSON body and decodes a JSON answer.
func (c *cubelet) do(method, path string, body any, out any) int {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read %s %s: %v", method, path, err)
	}
	if out != nil && len(data) > 0 && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("decode %s %s (%d): %v: %s", method, path, resp.StatusCode, err, data)
		}
	}
	return resp.StatusCode
}

func (c *cubelet) put(task *v1.Task) (*v1.Task, int) {
	c.t.Helper()
	var out v1.Task
	code := c.do(http.MethodPut, "/v1/tasks/"+task.Name, task, &out)
	if code != http.StatusOK && code != http.StatusCreated {
		c.t.Fatalf("PUT %s: %d %+v", task.Name, code, out)
	}
	return &out, code
}

func (c *cubelet) get(name string) (*v1.Task, int) {
	c.t.Helper()
	var out v1.Task
	code := c.do(http.MethodGet, "/v1/tasks/"+name, nil, &out)
	return &out, code
}

// waitFor polls a task until cond holds.
func (c *cubelet) waitFor(name, what string, timeout time.Duration, cond func(*v1.Task) bool) *v1.Task {
	c.t.Helper()
	var task *v1.Task
	eventually(c.t, timeout, name+" "+what, func() (bool, string) {
		t, code := c.get(name)
		if code != http.StatusOK {
			return false, fmt.Sprintf("GET %d", code)
		}
		task = t
		return cond(t), fmt.Sprintf("state %s reason %s message %q gen %d/%d", t.Status.State, t.Status.Reason,
			t.Status.Message, t.Status.ObservedGeneration, t.Generation)
	})
	return task
}

func (c *cubelet) waitRunning(name string) *v1.Task {
	c.t.Helper()
	return c.waitFor(name, "Running", 60*time.Second, func(t *v1.Task) bool {
		return t.Status.State == v1.Running && t.Status.ContainerID != "" && t.Status.Reason == "" &&
			t.Status.ObservedGeneration == t.Generation
	})
}

func (e *env) task(name string, mutate ...func(*v1.Task)) *v1.Task {
	t := &v1.Task{Spec: v1.TaskSpec{Image: e.image, Args: []string{"--listen", ":8080"}}}
	t.Name = name
	for _, m := range mutate {
		m(t)
	}
	return t
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
