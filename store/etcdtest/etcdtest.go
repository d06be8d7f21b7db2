// Package etcdtest runs a real, single-member etcd server for tests: the
// etcd binary of Debian's etcd-server package (any etcd 3.4 or later on
// PATH). It owns the server process and its data directory only; it must
// not be imported outside tests.
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Binary returns the path of the etcd binary. When there is none the test
// is skipped, or failed under CI=true: CI installs etcd-server (.ci/run),
// so a missing binary there is a broken setup, never a reason to pass.
func Binary(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("etcd")
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("etcd binary not found (apt-get install etcd-server): %v", err)
	}
	t.Skipf("etcd binary not found (apt-get install etcd-server): %v", err)
	return ""
}

// Server is one etcd process.
type Server struct {
	cmd      *exec.Cmd
	dataDir  string
	endpoint string
	exited   chan struct{}
	stderr   *tail
	stopOnce sync.Once
}

// Start starts etcd from binary with its data in a new directory under
// /dev/shm when there is one (fsync on tmpfs costs nothing, and tests
// need no durability across a host crash), and waits until it answers a
// read, or ctx ends, or the process exits.
func Start(ctx context.Context, binary string, extraArgs ...string) (*Server, error) {
	// Two free ports, held until etcd is about to bind them. Another
	// process may take one in between; etcd then exits, and we retry.
	var lastErr error
	for range 3 {
		s, err := start(ctx, binary, extraArgs)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func start(ctx context.Context, binary string, extraArgs []string) (*Server, error) {
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "etcdtest-")
	if err != nil {
		return nil, fmt.Errorf("etcd data dir: %w", err)
	}
	client, peer, err := freePorts()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	endpoint := "http://" + client
	args := append([]string{
		"--name", "etcdtest",
		"--data-dir", dir,
		"--listen-client-urls", endpoint,
		"--advertise-client-urls", endpoint,
		"--listen-peer-urls", "http://" + peer,
		"--initial-advertise-peer-urls", "http://" + peer,
		"--initial-cluster", "etcdtest=http://" + peer,
		"--log-level", "warn",
	}, extraArgs...)
	cmd := exec.Command(binary, args...)
	if runtime.GOARCH != "amd64" {
		// etcd 3.4 refuses other architectures unless told they are
		// meant (Debian builds it for them all).
		cmd.Env = append(os.Environ(), "ETCD_UNSUPPORTED_ARCH="+runtime.GOARCH)
	}
	dieWithParent(cmd)
	stderr := &tail{}
	cmd.Stderr = stderr
	cmd.Stdout = stderr
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	s := &Server{cmd: cmd, dataDir: dir, endpoint: endpoint, exited: make(chan struct{}), stderr: stderr}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// waitReady reads through a client: gRPC waits for the connection (the
// client's calls wait for readiness), so no polling is needed.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := s.Client()
	if err != nil {
		return err
	}
	defer c.Close()
	go func() {
		// etcd exiting early (a port taken) ends the wait at once.
		select {
		case <-s.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	if _, err := c.Get(ctx, "health"); err != nil {
		return fmt.Errorf("etcd at %s not ready: %w; its output: %s", s.endpoint, err, s.stderr.String())
	}
	return nil
}

// Endpoint is the server's client URL.
func (s *Server) Endpoint() string {
	return s.endpoint
}

// Client returns a new client of the server, for the test to close.
func (s *Server) Client() (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{s.endpoint}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	return c, nil
}

// Kill ends the server with SIGKILL and waits for it, keeping its data.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// Stop kills the server and removes its data. It may be called any
// number of times.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.Kill()
		_ = os.RemoveAll(s.dataDir)
	})
}

// Output is the end of what etcd printed, for failure messages.
func (s *Server) Output() string {
	return s.stderr.String()
}

func freePorts() (string, string, error) {
	var addrs []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", "", fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs[0], addrs[1], nil
}

// tail keeps the last 8 KiB written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - 8<<10; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
