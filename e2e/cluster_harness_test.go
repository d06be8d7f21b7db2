package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/runtime"
	"github.com/cubelet/cubelet/store/etcdtest"
)

// Helpers of the cluster tests (cluster_*_test.go): several cubelets, each
// its own node on the one Docker daemon, their containers told apart by
// io.cubelet.instance (the node name).

// clusterNode is one cubelet of a cluster test, with what it takes to
// start it again the same way (same --node-name, same flags).
type clusterNode struct {
	name  string
	env   env
	flags []string
	c     *cubelet
}

// startEtcd starts one etcd member for the test; it stops with the test.
func startEtcd(ctx context.Context, t *testing.T) *etcdtest.Server {
	t.Helper()
	srv, err := etcdtest.Start(ctx, etcdtest.Binary(t))
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// startNodes starts one cubelet per name, each with its own data dir and
// socket, on the etcd endpoints endpoints(name) gives, under prefix.
func (e *env) startNodes(prefix string, endpoints func(name string) string, names ...string) []*clusterNode {
	e.t.Helper()
	return e.startNodesWith(prefix, endpoints, nil, names...)
}

// startNodesWith is startNodes with extra flags for every cubelet.
func (e *env) startNodesWith(prefix string, endpoints func(name string) string, extra []string, names ...string) []*clusterNode {
	e.t.Helper()
	var nodes []*clusterNode
	for _, name := range names {
		n := &clusterNode{name: name, env: *e, flags: append([]string{
			"--etcd-endpoints", endpoints(name), "--etcd-prefix", prefix, "--node-name", name,
		}, extra...)}
		n.env.dataDir = e.t.TempDir()
		n.c = n.env.start(n.flags...)
		nodes = append(nodes, n)
	}
	return nodes
}

// restart starts the node's cubelet again with its flags, after kill9.
func (n *clusterNode) restart() {
	n.env.t.Helper()
	n.c = n.env.start(n.flags...)
}

// nodeReadiness reads GET /v1/nodes: node name → Ready.
func (c *cubelet) nodeReadiness() map[string]bool {
	c.t.Helper()
	var list v1.NodeList
	if code := c.do(http.MethodGet, "/v1/nodes", nil, &list); code != http.StatusOK {
		c.t.Fatalf("GET /v1/nodes: %d", code)
	}
	ready := map[string]bool{}
	for i := range list.Items {
		ready[list.Items[i].Name] = v1.NodeIsReady(&list.Items[i])
	}
	return ready
}

// placed is where a task runs: its node and the container there.
type placed struct {
	node      string
	container string
	started   time.Time
	restarts  int32
	policy    v1.RestartPolicy
}

// waitPlaced polls until every task is bound, Running at its generation,
// with exactly one running managed container, the one its status names,
// of its node's instance, and no running container of any other
// instance; it returns where each task runs.
func (e *env) waitPlaced(front *cubelet, timeout time.Duration) map[string]placed {
	e.t.Helper()
	out := map[string]placed{}
	eventuallyEvery(e.t, timeout, 200*time.Millisecond, "every task bound and Running in one container of its node", func() (bool, string) {
		clear(out)
		running := e.runningByTask()
		for _, tk := range front.list() {
			s := tk.Status
			switch {
			case tk.Spec.NodeName == "":
				return false, tk.Name + " not bound"
			case s.State != v1.Running || s.Reason != "" || s.ObservedGeneration != tk.Generation:
				return false, fmt.Sprintf("%s on %s: %s/%s gen %d/%d", tk.Name, tk.Spec.NodeName, s.State, s.Reason, s.ObservedGeneration, tk.Generation)
			}
			rs := running[tk.Name]
			if len(rs) != 1 || rs[0].ID != s.ContainerID || rs[0].instance != tk.Spec.NodeName {
				return false, fmt.Sprintf("%s bound to %s, status names %.12s: running %v", tk.Name, tk.Spec.NodeName, s.ContainerID, rs)
			}
			out[tk.Name] = placed{node: tk.Spec.NodeName, container: s.ContainerID, restarts: s.RestartCount, policy: tk.Spec.RestartPolicy}
		}
		return true, ""
	})
	// Start times, for "not touched": one inspect per container, once.
	for _, c := range e.managed() {
		name := c.Labels[controller.LabelTask]
		if p, ok := out[name]; ok && p.container == c.ID {
			p.started = c.StartedAt
			out[name] = p
		}
	}
	return out
}

// kinds splits the tasks placed on node into Always (or OnFailure) ones
// and Never jobs, in name order.
func kinds(ps map[string]placed, node string) (always, never []string) {
	for _, name := range sortedKeys(ps) {
		if p := ps[name]; p.node == node {
			if p.policy == v1.RestartNever {
				never = append(never, name)
			} else {
				always = append(always, name)
			}
		}
	}
	return always, never
}

// pickNode returns the first of candidates that runs both Always tasks
// and Never jobs, the scheduler having placed them as it saw fit: the
// tests that lose or drain a node need both kinds on it.
func pickNode(t *testing.T, ps map[string]placed, candidates ...*clusterNode) (n *clusterNode, always, never []string) {
	t.Helper()
	for _, n := range candidates {
		if always, never := kinds(ps, n.name); len(always) > 0 && len(never) > 0 {
			return n, always, never
		}
	}
	t.Fatalf("no node of %d runs both Always tasks and Never jobs: %v", len(candidates), perNode(ps))
	return nil, nil, nil
}

// eventuallyEvery is eventually with its own pause between tries: the
// failover waits poll gently, since each try lists every task through a
// cubelet and Docker's containers, load that would slow down the very
// failover being timed (its figures come from Docker's start times and
// the cubelets' logs, not from when a try saw them).
func eventuallyEvery(t *testing.T, timeout, every time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, msg)
		}
		time.Sleep(every)
	}
}

// waitBound polls until every task is bound to a node.
func (e *env) waitBound(front *cubelet) {
	e.t.Helper()
	eventuallyEvery(e.t, 60*time.Second, 100*time.Millisecond, "every task bound", func() (bool, string) {
		for _, tk := range front.list() {
			if tk.Spec.NodeName == "" {
				return false, tk.Name + " not bound"
			}
		}
		return true, ""
	})
}

// perNode counts placements per node.
func perNode(ps map[string]placed) map[string]int {
	out := map[string]int{}
	for _, p := range ps {
		out[p.node]++
	}
	return out
}

// byInstance groups managed containers by io.cubelet.instance.
func byInstance(cs []runtime.Container) map[string][]runtime.Container {
	out := map[string][]runtime.Container{}
	for _, c := range cs {
		out[c.Labels[controller.LabelInstance]] = append(out[c.Labels[controller.LabelInstance]], c)
	}
	return out
}

// removeInstance force-removes every container of one instance, as a
// host that died takes its containers with it; it returns how many.
func (e *env) removeInstance(instance string) int {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := e.docker.ListContainers(ctx, controller.LabelInstance, instance)
	if err != nil {
		e.t.Fatalf("list containers of %s: %v", instance, err)
	}
	for _, c := range cs {
		if err := e.docker.RemoveContainer(ctx, c.ID); err != nil {
			e.t.Fatalf("remove %s: %v", c.Name, err)
		}
	}
	return len(cs)
}

// killInstance kills every running container of one instance at once
// (SIGKILL) and leaves them on disk, as a host that loses power and
// boots again finds them; it returns how many.
func (e *env) killInstance(instance string) int {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := e.docker.ListContainers(ctx, controller.LabelInstance, instance)
	if err != nil {
		e.t.Fatalf("list containers of %s: %v", instance, err)
	}
	n := 0
	for _, c := range cs {
		if !c.Running() {
			continue
		}
		if err := e.docker.StopContainer(ctx, c.ID, 0); err != nil {
			e.t.Fatalf("kill %s: %v", c.Name, err)
		}
		n++
	}
	return n
}

// psContainer is one running container as Docker's list reports it.
type psContainer struct {
	ID       string
	instance string
	task     string
}

func (c psContainer) String() string { return fmt.Sprintf("%.12s@%s", c.ID, c.instance) }

// dockerPS lists running managed containers with one call of Docker's
// API (GET /containers/json, no inspect per container), cheap enough to
// poll every few tens of milliseconds.
type dockerPS struct {
	client *http.Client
	base   string
}

func newDockerPS(t *testing.T) *dockerPS {
	t.Helper()
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	u, err := url.Parse(host)
	if err != nil {
		t.Fatalf("DOCKER_HOST %q: %v", host, err)
	}
	switch u.Scheme {
	case "unix":
		var d net.Dialer
		return &dockerPS{base: "http://docker", client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return d.DialContext(ctx, "unix", u.Path)
			},
		}}}
	case "tcp", "http":
		return &dockerPS{base: "http://" + u.Host, client: &http.Client{Timeout: 10 * time.Second}}
	}
	t.Fatalf("DOCKER_HOST %q: only unix:// and tcp:// are supported here", host)
	return nil
}

func (p *dockerPS) running(ctx context.Context) ([]psContainer, error) {
	filters := `{"label":["` + controller.LabelManaged + `=true"],"status":["running"]}`
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/containers/json?filters="+url.QueryEscape(filters), nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("docker ps: %d %s", resp.StatusCode, body)
	}
	var list []struct {
		ID     string `json:"Id"`
		State  string
		Labels map[string]string
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, err
	}
	out := make([]psContainer, 0, len(list))
	for _, c := range list {
		if c.State != "running" {
			continue
		}
		out = append(out, psContainer{ID: c.ID, instance: c.Labels[controller.LabelInstance], task: c.Labels[controller.LabelTask]})
	}
	return out, nil
}

// runningByTask lists the running managed containers per task.
func (e *env) runningByTask() map[string][]psContainer {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := newDockerPS(e.t).running(ctx)
	if err != nil {
		e.t.Fatalf("docker ps: %v", err)
	}
	out := map[string][]psContainer{}
	for _, c := range cs {
		out[c.task] = append(out[c.task], c)
	}
	return out
}

// copyWatch polls Docker every interval, from start until stop, for a
// task with two running containers at once across the test's nodes (one
// Docker daemon holds every node's containers). It records every poll,
// so a test can assert on the history and on the poller itself having
// run; it never fails the test from its goroutine.
type copyWatch struct {
	interval time.Duration
	start    time.Time
	stopc    chan struct{}
	done     chan struct{}
	// ours are the test's instances: containers of any other (another
	// cubelet on the host) are not counted.
	ours map[string]bool

	mu         sync.Mutex
	polls      int
	errs       []string
	maxGap     time.Duration
	violations []string // "t+1.23s task: a@n1 b@n2", the first 20
	doubled    int      // polls that saw a task twice
	// running[instance] is each poll's count of running containers of
	// that instance, with the poll's time.
	history []pollRecord
}

type pollRecord struct {
	at         time.Time
	byInstance map[string]int
}

func (e *env) watchCopies(interval time.Duration, nodes []*clusterNode) *copyWatch {
	ps := newDockerPS(e.t)
	w := &copyWatch{interval: interval, start: time.Now(), stopc: make(chan struct{}), done: make(chan struct{}), ours: map[string]bool{}}
	for _, n := range nodes {
		w.ours[n.name] = true
	}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		last := time.Now()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			cs, err := ps.running(ctx)
			cancel()
			now := time.Now()
			w.record(now, now.Sub(last), cs, err)
			last = now
			select {
			case <-w.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *copyWatch) record(now time.Time, gap time.Duration, cs []psContainer, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.errs = append(w.errs, fmt.Sprintf("t+%.2fs %v", now.Sub(w.start).Seconds(), err))
		return
	}
	w.polls++
	if w.polls > 1 && gap > w.maxGap {
		w.maxGap = gap
	}
	per := map[string][]psContainer{}
	counts := map[string]int{}
	for _, c := range cs {
		if !w.ours[c.instance] {
			continue
		}
		per[c.task] = append(per[c.task], c)
		counts[c.instance]++
	}
	w.history = append(w.history, pollRecord{at: now, byInstance: counts})
	doubled := false
	for task, rs := range per {
		if len(rs) < 2 {
			continue
		}
		doubled = true
		if len(w.violations) < 20 {
			w.violations = append(w.violations, fmt.Sprintf("t+%.2fs %s: %v", now.Sub(w.start).Seconds(), task, rs))
		}
	}
	if doubled {
		w.doubled++
	}
}

// stop ends the polling and waits for the last poll.
func (w *copyWatch) stop() {
	close(w.stopc)
	<-w.done
}

// check fails the test with each of problems' findings.
func (w *copyWatch) check(t *testing.T, minPolls int, maxGap time.Duration) {
	t.Helper()
	for _, p := range w.problems(minPolls, maxGap) {
		t.Error(p)
	}
}

// problems: any poll that saw a task with two running containers, polls
// that failed, and a poller that ran fewer than minPolls times or left
// more than maxGap between two polls (a poller that did not poll proves
// nothing).
func (w *copyWatch) problems(minPolls int, maxGap time.Duration) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	if w.doubled > 0 {
		out = append(out, fmt.Sprintf("two running copies of a task seen in %d of %d polls: %s", w.doubled, w.polls, strings.Join(w.violations, "; ")))
	}
	if len(w.errs) > 0 {
		out = append(out, fmt.Sprintf("%d polls of Docker failed: %s", len(w.errs), strings.Join(w.errs[:min(len(w.errs), 5)], "; ")))
	}
	if w.polls < minPolls {
		out = append(out, fmt.Sprintf("the copy poller ran %d times, want at least %d", w.polls, minPolls))
	}
	if w.maxGap > maxGap {
		out = append(out, fmt.Sprintf("the copy poller left %v between two polls, want at most %v", w.maxGap, maxGap))
	}
	return out
}

// firstZero is the time of the first poll at or after from that saw no
// running container of instance, with every later poll up to until
// (zero: to the end) agreeing; zero time when there is none.
func (w *copyWatch) firstZero(instance string, from, until time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	var first time.Time
	for _, r := range w.history {
		if r.at.Before(from) || (!until.IsZero() && r.at.After(until)) {
			continue
		}
		if r.byInstance[instance] == 0 {
			if first.IsZero() {
				first = r.at
			}
		} else {
			first = time.Time{}
		}
	}
	return first
}

func (w *copyWatch) summary() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprintf("%d polls every %v over %v, longest gap %v", w.polls, w.interval,
		time.Since(w.start).Round(100*time.Millisecond), w.maxGap.Round(time.Millisecond))
}

// etcdProxy is a TCP proxy between cubelets and etcd that the test can
// cut. A cut is a blackhole, not a reset: the connections open at the
// cut stay open but nothing more passes either way, and new connections
// are accepted but never forwarded. That is what a partition looks like
// to etcd's client: no error, no RST, only silence. The client learns of
// it from its own deadlines alone (gRPC keep-alive pings, 10 s + 5 s
// here; the lease's keep-alive loop, whose deadline is the TTL), never
// from a refused or reset connection it could retry at once. Meanwhile
// etcd hears no keep-alive, so the lease is genuinely not renewed and
// expires on the server at its TTL.
//
// Heal closes every connection that lived through the cut (what was held
// during the cut is dropped, as a partition outlasting TCP's patience
// would) and forwards new connections again.
type etcdProxy struct {
	t      *testing.T
	l      net.Listener
	target string

	mu     sync.Mutex
	cut    bool
	gen    int           // incremented by each Cut
	healed chan struct{} // closed by Heal; a new one at each Cut
	conns  map[net.Conn]int
	wg     sync.WaitGroup
}

// newEtcdProxy listens on a free loopback port and forwards to target,
// an etcd client URL (http://host:port).
func newEtcdProxy(t *testing.T, target string) *etcdProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		t.Fatalf("etcd endpoint %q: %v", target, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &etcdProxy{t: t, l: l, target: u.Host, healed: make(chan struct{}), conns: map[net.Conn]int{}}
	close(p.healed)
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	return p
}

// Endpoint is the proxy's URL, to give cubelet as --etcd-endpoints.
func (p *etcdProxy) Endpoint() string { return "http://" + p.l.Addr().String() }

func (p *etcdProxy) serve() {
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		gen, cut := p.gen, p.cut
		p.conns[in] = gen
		p.mu.Unlock()
		if cut {
			// Accepted, never forwarded: closed by Heal.
			continue
		}
		p.wg.Go(func() { p.forward(in, gen) })
	}
}

func (p *etcdProxy) forward(in net.Conn, gen int) {
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		p.drop(in)
		return
	}
	if !p.track(out, gen) {
		out.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(out, in, gen) })
	wg.Go(func() { p.pipe(in, out, gen) })
	wg.Wait()
	p.drop(in)
	p.drop(out)
}

// track registers a connection made under gen, unless a cut came since.
func (p *etcdProxy) track(c net.Conn, gen int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen != gen || p.cut {
		return false
	}
	p.conns[c] = gen
	return true
}

func (p *etcdProxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// pipe copies src to dst while the connection's generation is current
// and no cut is on. Bytes read during a cut are held until Heal, which
// closes the connection: they are never delivered.
func (p *etcdProxy) pipe(dst, src net.Conn, gen int) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			cut, healed, cur := p.cut, p.healed, p.gen
			p.mu.Unlock()
			if cut {
				<-healed
				return
			}
			if cur != gen {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Cut starts the partition: from now on nothing passes.
func (p *etcdProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return
	}
	p.cut = true
	p.gen++
	p.healed = make(chan struct{})
}

// Heal ends the partition: every connection that lived through it is
// closed, and new ones are forwarded again.
func (p *etcdProxy) Heal() {
	p.mu.Lock()
	if !p.cut {
		p.mu.Unlock()
		return
	}
	p.cut = false
	close(p.healed)
	// Every connection still here lived through the cut: made before it
	// (stalled) or accepted during it (never forwarded).
	stale := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		stale = append(stale, c)
	}
	clear(p.conns)
	p.gen++
	p.mu.Unlock()
	for _, c := range stale {
		c.Close()
	}
}

func (p *etcdProxy) close() {
	p.l.Close()
	p.mu.Lock()
	if p.cut {
		p.cut = false
		close(p.healed)
	}
	p.gen++
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// sortedKeys is for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// tasksByName is the front's task list by name.
func tasksByName(front *cubelet) map[string]v1.Task {
	tasks := map[string]v1.Task{}
	for _, tk := range front.list() {
		tasks[tk.Name] = tk
	}
	return tasks
}

// movedOff reports whether every named task has left node: bound to
// another node, Running in its current generation, in exactly one running
// container, the one its status names, of the node it is bound to.
func movedOff(tasks map[string]v1.Task, running map[string][]psContainer, node string, names []string) (bool, string) {
	for _, name := range names {
		tk := tasks[name]
		s := tk.Status
		rs := running[name]
		switch {
		case tk.Spec.NodeName == node || tk.Spec.NodeName == "":
			return false, fmt.Sprintf("%s still bound to %q", name, tk.Spec.NodeName)
		case s.State != v1.Running || s.ObservedGeneration != tk.Generation:
			return false, fmt.Sprintf("%s on %s: %s/%s gen %d/%d", name, tk.Spec.NodeName, s.State, s.Reason, s.ObservedGeneration, tk.Generation)
		case len(rs) != 1 || rs[0].ID != s.ContainerID || rs[0].instance != tk.Spec.NodeName:
			return false, fmt.Sprintf("%s on %s, status names %.12s: running %v", name, tk.Spec.NodeName, s.ContainerID, rs)
		}
	}
	return true, ""
}

// endedNodeLost reports whether every named Never job of the lost node is
// Failed/NodeLost, still bound to it, with no running container.
func endedNodeLost(tasks map[string]v1.Task, running map[string][]psContainer, node string, names []string) (bool, string) {
	for _, name := range names {
		tk := tasks[name]
		if tk.Status.State != v1.Failed || tk.Status.Reason != v1.ReasonNodeLost || tk.Spec.NodeName != node {
			return false, fmt.Sprintf("job %s on %q: %s/%s", name, tk.Spec.NodeName, tk.Status.State, tk.Status.Reason)
		}
		if rs := running[name]; len(rs) != 0 {
			return false, fmt.Sprintf("lost job %s running: %v", name, rs)
		}
	}
	return true, ""
}
