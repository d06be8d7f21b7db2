package e2e

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
)

// dockerProxy is a Unix-socket proxy between cubelet and the Docker
// daemon's socket that can cut every connection and refuse new ones for a
// while: the daemon restarting, or a network between them failing.
type dockerProxy struct {
	t        *testing.T
	path     string
	upstream string
	l        net.Listener

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	refusing bool
	refused  atomic.Int64
}

func newDockerProxy(t *testing.T) *dockerProxy {
	t.Helper()
	upstream := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		upstream = strings.TrimPrefix(h, "unix://")
	}
	// A short directory: socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "cbp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &dockerProxy{t: t, path: filepath.Join(dir, "docker.sock"), upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.l, err = net.Listen("unix", p.path)
	if err != nil {
		t.Fatal(err)
	}
	go p.serve()
	t.Cleanup(func() {
		p.l.Close()
		p.cut()
	})
	return p
}

// host is the --docker-host value that goes through the proxy.
func (p *dockerProxy) host() string { return "unix://" + p.path }

func (p *dockerProxy) serve() {
	for {
		down, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refusing := p.refusing
		p.mu.Unlock()
		if refusing {
			p.refused.Add(1)
			down.Close()
			continue
		}
		up, err := net.Dial("unix", p.upstream)
		if err != nil {
			down.Close()
			continue
		}
		if !p.track(down, up) {
			continue
		}
		go p.pipe(down, up)
		go p.pipe(up, down)
	}
}

// track registers a connection pair, unless a cut began meanwhile.
func (p *dockerProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refusing {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *dockerProxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// cut closes every connection and refuses new ones until restore.
func (p *dockerProxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refusing = true
	n := len(p.conns)
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
	return n / 2
}

func (p *dockerProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refusing = false
}

// TestE2E_EventStreamCut_ReconnectsRelistsAndRepairs cuts cubelet off the
// Docker daemon (every connection closed, new ones refused) while
// containers are removed and killed behind its back, some just before the
// cut and some during it, with --resync 1h so no periodic relist can
// help. Once the daemon is reachable again cubelet must resubscribe,
// relist, and bring every task back within seconds, and say so in its log.
// make soak repeats the outage five times.
func TestE2E_EventStreamCut_ReconnectsRelistsAndRepairs(t *testing.T) {
	const n = 6
	e := newEnv(t)
	proxy := newDockerProxy(t)
	c := e.start("--docker-host", proxy.host(), "--log-level", "debug", "--workers", "4")
	names := make([]string, n)
	for i := range names {
		names[i] = "cut-" + string(rune('a'+i))
		c.put(e.task(names[i]))
	}
	cycles := scale(1, 5)
	before := map[string]v1.Task{}
	for _, name := range names {
		before[name] = *c.waitRunning(name)
	}
	for range cycles {
		cutAndRepair(t, e, c, proxy, names, before)
		for _, task := range c.list() {
			before[task.Name] = task
		}
	}

	logs := c.logs.String()
	// Either the stream's end or a failed inspect of an event's container
	// is noticed first; both make cubelet relist.
	ended := append(logLines(logs, "docker event stream ended: will reconnect and relist"),
		logLines(logs, "inspect container after event failed: relisting")...)
	if len(ended) == 0 {
		t.Fatalf("the log does not say the event stream ended:\n%s", tail(logs, 40))
	}
	var endedAt time.Time
	for _, l := range ended {
		at, _ := time.Parse(time.RFC3339Nano, l["time"].(string))
		if endedAt.IsZero() || at.Before(endedAt) {
			endedAt = at
		}
	}
	relisted := false
	for _, l := range logLines(logs, "listed containers") {
		at, _ := time.Parse(time.RFC3339Nano, l["time"].(string))
		if at.After(endedAt) {
			relisted = true
		}
	}
	if !relisted {
		t.Fatalf("the log shows no relist after the stream ended:\n%s", tail(logs, 40))
	}
}

// cutAndRepair removes or kills the containers of names from outside,
// cutting the proxy after the first two, and waits until cubelet has
// repaired every task after the proxy is restored.
func cutAndRepair(t *testing.T, e *env, c *cubelet, proxy *dockerProxy, names []string, before map[string]v1.Task) {
	t.Helper()
	// The direct client does not go through the proxy.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tamper := func(name string, i int) {
		id := before[name].Status.ContainerID
		var err error
		if i%2 == 0 {
			err = e.docker.RemoveContainer(ctx, id)
		} else {
			err = e.docker.StopContainer(ctx, id, 0) // SIGKILL at once
		}
		if err != nil && !errors.Is(err, runtime.ErrNotFound) {
			t.Fatalf("tamper with %s: %v", name, err)
		}
	}
	tamper(names[0], 0)
	tamper(names[1], 1)
	cutAt := time.Now()
	conns := proxy.cut()
	for i, name := range names[2:] {
		tamper(name, i)
	}
	// The outage lasts two seconds: long enough for the reflector's
	// relists to be refused, short enough for the test to stay quick.
	time.Sleep(2 * time.Second) // the length of the outage, not a wait for a condition
	proxy.restore()
	restoredAt := time.Now()

	eventually(t, 30*time.Second, "every task repaired after the outage", func() (bool, string) {
		for _, name := range names {
			task, _ := c.get(name)
			b := before[name]
			repaired := task.Status.State == v1.Running && task.Status.Reason == "" && task.Status.ContainerID != "" &&
				(task.Status.ContainerID != b.Status.ContainerID || task.Status.RestartCount > b.Status.RestartCount)
			if !repaired {
				return false, name + ": " + string(task.Status.State) + " " + task.Status.Reason
			}
		}
		return converged(c.list(), e.managed())
	})
	t.Logf("outage %s cut %d connections, refused %d; all %d tasks repaired %s after the proxy came back",
		restoredAt.Sub(cutAt).Round(time.Millisecond), conns, proxy.refused.Load(), len(names), time.Since(restoredAt).Round(time.Millisecond))
}
