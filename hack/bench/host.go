package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/runtime"
)

// labelBench marks the containers the bench creates itself (never the
// managed label: a cubelet would take them for its own).
const labelBench = "io.cubelet.bench"

// host is the Docker host the Docker parts run against.
type host struct {
	cfg    config
	docker *runtime.Docker
	http   *http.Client
	// watchClient has no timeout: watches last as long as their context.
	watchClient *http.Client
	// transport, under both clients, dials socket: the Unix socket of the
	// cubelet running now (one at a time), the API's default listener.
	transport *http.Transport
	socket    atomic.Pointer[string]
}

func newHost(cfg config) (*host, error) {
	if _, err := os.Stat(cfg.cubelet); err != nil {
		return nil, fmt.Errorf("cubelet binary: %w (hack/bench.sh builds it)", err)
	}
	d, err := runtime.NewDocker("")
	if err != nil {
		return nil, err
	}
	h := &host{cfg: cfg, docker: d}
	var dialer net.Dialer
	h.transport = &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			sock := h.socket.Load()
			if sock == nil {
				return nil, errors.New("no cubelet started")
			}
			return dialer.DialContext(ctx, "unix", *sock)
		}}
	h.http = &http.Client{Transport: h.transport, Timeout: time.Minute}
	h.watchClient = &http.Client{Transport: h.transport}
	return h, nil
}

func (h *host) close() { h.docker.Close() }

// clean removes every managed container and every container the bench made.
func (h *host) clean(ctx context.Context) error {
	for _, l := range [][2]string{{controller.LabelManaged, "true"}, {labelBench, "raw"}, {labelBench, "floor"}} {
		cs, err := h.docker.ListContainers(ctx, l[0], l[1])
		if err != nil {
			return fmt.Errorf("clean: %w", err)
		}
		if err := forEach(ctx, len(cs), 16, func(i int) error { return h.docker.RemoveContainer(ctx, cs[i].ID) }); err != nil {
			return fmt.Errorf("clean: %w", err)
		}
		if len(cs) > 0 {
			logf("removed %d containers labelled %s=%s", len(cs), l[0], l[1])
		}
	}
	return nil
}

// rawSpec is the container a raw Engine API client creates: the same image,
// arguments and stop timeout as a cubelet task's, labelled as the bench's.
func (h *host) rawSpec(name, kind string) runtime.ContainerSpec {
	return runtime.ContainerSpec{
		Name:        name,
		Image:       h.cfg.image,
		Cmd:         []string{"--listen", ":8080"},
		Labels:      map[string]string{labelBench: kind},
		StopTimeout: time.Duration(v1.DefaultStopGracePeriodSeconds) * time.Second,
	}
}

// forEach runs fn(0..n-1) on at most limit goroutines and returns the first
// error.
func forEach(ctx context.Context, n, limit int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	for range min(limit, n) {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// cubelet is one running cubelet serve process.
type cubelet struct {
	h       *host
	cmd     *exec.Cmd
	base    string
	dataDir string
	logPath string
	done    chan error
	// ready is the time from exec to the first /readyz 200.
	ready time.Duration
}

// startCubelet runs the binary on its own socket over dataDir and waits
// for /readyz; the host's clients talk to it from then on.
func (h *host) startCubelet(ctx context.Context, dataDir string) (*cubelet, error) {
	socket := filepath.Join(h.cfg.workDir, fmt.Sprintf("cubelet-%d.sock", time.Now().UnixNano()%1e6))
	h.socket.Store(&socket)
	h.transport.CloseIdleConnections() // they lead to the previous cubelet
	logPath := filepath.Join(h.cfg.workDir, fmt.Sprintf("cubelet-%d.log", time.Now().UnixNano()))
	return h.launch(ctx, socket, dataDir, logPath, nil)
}

// launch executes `cubelet serve` on socket over dataDir (plus extra
// flags), its output to logPath, and waits for /readyz through h's
// clients; the cubelet is h's.
func (h *host) launch(ctx context.Context, socket, dataDir, logPath string, extra []string) (*cubelet, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(h.cfg.cubelet, append([]string{"serve", "--socket", socket, "--data-dir", dataDir,
		"--workers", fmt.Sprint(h.cfg.workers), "--backoff-reset", "1s", "--log-format", "json"}, extra...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	dieWithBench(cmd)
	c := &cubelet{h: h, cmd: cmd, base: "http://localhost", dataDir: dataDir, logPath: logPath, done: make(chan error, 1)}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start cubelet: %w", err)
	}
	go func() { c.done <- cmd.Wait() }()
	if err := c.waitReady(ctx, start); err != nil {
		c.kill()
		return nil, err
	}
	return c, nil
}

// waitReady polls /readyz every 2ms and records the time since start.
func (c *cubelet) waitReady(ctx context.Context, start time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	probe := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: c.h.transport.DialContext}}
	for {
		select {
		case err := <-c.done:
			c.done <- err
			return fmt.Errorf("cubelet exited before ready: %v\n%s", err, c.logTail())
		default:
		}
		resp, err := probe.Get(c.base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				c.ready = time.Since(start)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cubelet not ready: %w\n%s", ctx.Err(), c.logTail())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits; containers keep running.
func (c *cubelet) stop() error {
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-c.done:
		c.done <- err
		return err
	case <-time.After(45 * time.Second):
		c.kill()
		return errors.New("cubelet did not stop within 45s of SIGTERM")
	}
}

func (c *cubelet) kill() {
	_ = c.cmd.Process.Kill()
	err := <-c.done
	c.done <- err
}

func (c *cubelet) logTail() string {
	b, _ := os.ReadFile(c.logPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// do sends one API request and decodes a 2xx JSON answer into out.
func (c *cubelet) do(ctx context.Context, method, path string, body any, out any) (int, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.h.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// taskBody is a task as a user PUTs it: the converge image and arguments.
func (h *host) taskBody(name string) *v1.Task {
	t := &v1.Task{Spec: v1.TaskSpec{Image: h.cfg.image, Args: []string{"--listen", ":8080"}, RestartPolicy: v1.RestartAlways}}
	t.Name = name
	return t
}

// list returns the stored tasks by name.
func (c *cubelet) list(ctx context.Context) (map[string]*v1.Task, error) {
	var l v1.TaskList
	if _, err := c.do(ctx, http.MethodGet, "/v1/tasks", nil, &l); err != nil {
		return nil, err
	}
	m := make(map[string]*v1.Task, len(l.Items))
	for i := range l.Items {
		m[l.Items[i].Name] = &l.Items[i]
	}
	return m, nil
}

// converged reports whether a task runs the container of its current spec.
func converged(t *v1.Task) bool {
	return t.Status.State == v1.Running && t.Status.ContainerID != "" && t.Status.Reason == "" &&
		t.Status.ObservedGeneration == t.Generation
}

// poll calls cond every interval until it returns true or an error, or ctx
// ends.
func poll(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
