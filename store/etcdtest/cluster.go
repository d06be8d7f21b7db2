package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Cluster is a real etcd cluster of several members on loopback ports,
// each a process of its own with its own data directory (under /dev/shm
// when there is one), for tests about etcd's own failures: one member
// can be killed and started again while the others go on.
type Cluster struct {
	binary  string
	Members []*Member
	stop    sync.Once
}

// Member is one etcd process of a Cluster. Its ports and data directory
// stay the same across Kill and Start, as a restarted host's would.
type Member struct {
	Name      string
	clientURL string
	peerURL   string
	dataDir   string
	binary    string
	initial   string // --initial-cluster

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	stderr *tail
}

// StartCluster starts n members (3 for a cluster that survives the loss
// of one) and waits until the cluster has a leader and every member
// answers. Ports are found free and released just before etcd binds
// them: another process may take one in between, so a start that fails
// is tried again from scratch, up to three times.
func StartCluster(ctx context.Context, binary string, n int) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("etcd cluster of %d members", n)
	}
	var lastErr error
	for range 3 {
		c, err := startCluster(ctx, binary, n)
		if err == nil {
			return c, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func startCluster(ctx context.Context, binary string, n int) (*Cluster, error) {
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	c := &Cluster{binary: binary}
	var initial []string
	for i := range n {
		dir, err := os.MkdirTemp(base, "etcdtest-member-")
		if err != nil {
			c.Stop()
			return nil, fmt.Errorf("etcd data dir: %w", err)
		}
		client, peer, err := freePorts()
		if err != nil {
			_ = os.RemoveAll(dir)
			c.Stop()
			return nil, err
		}
		m := &Member{
			Name:      fmt.Sprintf("m%d", i+1),
			clientURL: "http://" + client,
			peerURL:   "http://" + peer,
			dataDir:   dir,
			binary:    binary,
		}
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.peerURL)
	}
	for _, m := range c.Members {
		m.initial = strings.Join(initial, ",")
		if err := m.spawn(); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.waitReady(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// waitReady waits for a linearizable read through every member's
// endpoint: that needs a leader and the member connected to it.
func (c *Cluster) waitReady(ctx context.Context) error {
	for _, m := range c.Members {
		if err := m.waitReady(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Endpoints are the members' client URLs, in member order.
func (c *Cluster) Endpoints() []string {
	out := make([]string, len(c.Members))
	for i, m := range c.Members {
		out[i] = m.clientURL
	}
	return out
}

// Client returns a new client of every member, for the test to close.
func (c *Cluster) Client() (*clientv3.Client, error) {
	return newClient(c.Endpoints())
}

// Leader returns the member that is the Raft leader now, asking the
// members that answer; nil with an error when none names a leader that
// is a member of this cluster.
func (c *Cluster) Leader(ctx context.Context) (*Member, error) {
	cli, err := c.Client()
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	var errs []error
	for _, m := range c.Members {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := cli.Status(sctx, m.clientURL)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.Name, err))
			continue
		}
		if st.Leader == 0 {
			errs = append(errs, fmt.Errorf("%s: no leader", m.Name))
			continue
		}
		for _, l := range c.Members {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			ls, err := cli.Status(sctx, l.clientURL)
			cancel()
			if err == nil && ls.Header.MemberId == st.Leader {
				return l, nil
			}
		}
		errs = append(errs, fmt.Errorf("%s: leader %x is no member that answers", m.Name, st.Leader))
	}
	return nil, fmt.Errorf("no etcd leader: %w", errors.Join(errs...))
}

// Stop kills every member and removes their data. It may be called any
// number of times.
func (c *Cluster) Stop() {
	c.stop.Do(func() {
		for _, m := range c.Members {
			m.Kill()
			_ = os.RemoveAll(m.dataDir)
		}
	})
}

// Output is the end of what each member printed, for failure messages.
func (c *Cluster) Output() string {
	var b strings.Builder
	for _, m := range c.Members {
		fmt.Fprintf(&b, "--- etcd member %s (%s)\n%s\n", m.Name, m.clientURL, m.Output())
	}
	return b.String()
}

// Endpoint is the member's client URL.
func (m *Member) Endpoint() string { return m.clientURL }

// Running reports whether the member's process is up.
func (m *Member) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.exited == nil {
		return false
	}
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

// Kill ends the member with SIGKILL (a host that dies: nothing is
// flushed or announced) and waits for it, keeping its data.
func (m *Member) Kill() {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Start starts a killed member again on its data directory and ports,
// and waits until it answers a linearizable read (it has rejoined and
// found the leader), or ctx ends.
func (m *Member) Start(ctx context.Context) error {
	if m.Running() {
		return fmt.Errorf("etcd member %s is running", m.Name)
	}
	if err := m.spawn(); err != nil {
		return err
	}
	return m.waitReady(ctx)
}

// Output is the end of what the member printed, across its restarts.
func (m *Member) Output() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stderr == nil {
		return ""
	}
	return m.stderr.String()
}

func (m *Member) spawn() error {
	args := []string{
		"--name", m.Name,
		"--data-dir", m.dataDir,
		"--listen-client-urls", m.clientURL,
		"--advertise-client-urls", m.clientURL,
		"--listen-peer-urls", m.peerURL,
		"--initial-advertise-peer-urls", m.peerURL,
		"--initial-cluster", m.initial,
		"--initial-cluster-state", "new",
		"--initial-cluster-token", "etcdtest",
		"--log-level", "warn",
	}
	cmd := exec.Command(m.binary, args...)
	if runtime.GOARCH != "amd64" {
		cmd.Env = append(os.Environ(), "ETCD_UNSUPPORTED_ARCH="+runtime.GOARCH)
	}
	dieWithParent(cmd)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stderr == nil {
		m.stderr = &tail{}
	}
	cmd.Stderr = m.stderr
	cmd.Stdout = m.stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start etcd member %s: %w", m.Name, err)
	}
	exited := make(chan struct{})
	m.cmd, m.exited = cmd, exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	return nil
}

func (m *Member) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	m.mu.Lock()
	exited := m.exited
	m.mu.Unlock()
	cli, err := newClient([]string{m.clientURL})
	if err != nil {
		return err
	}
	defer cli.Close()
	go func() {
		select {
		case <-exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	if _, err := cli.Get(ctx, "health"); err != nil {
		return fmt.Errorf("etcd member %s at %s not ready: %w; its output: %s", m.Name, m.clientURL, err, m.Output())
	}
	return nil
}

func newClient(endpoints []string) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	return c, nil
}

// Client returns a new client of this member alone, for the test to
// close: reads with clientv3.WithSerializable() answer from its own data.
func (m *Member) Client() (*clientv3.Client, error) {
	return newClient([]string{m.clientURL})
}
