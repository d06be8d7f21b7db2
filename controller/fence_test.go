package controller

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
	"github.com/cubelet/cubelet/runtime/fake"
	"github.com/cubelet/cubelet/store"
)

// testLease is a node lease the test holds and loses at will.
type testLease struct {
	mu      sync.Mutex
	held    bool
	changed chan struct{}
}

func newTestLease(held bool) *testLease {
	return &testLease{held: held, changed: make(chan struct{})}
}

func (l *testLease) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

func (l *testLease) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

func (l *testLease) set(held bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if held != l.held {
		l.held = held
		close(l.changed)
		l.changed = make(chan struct{})
	}
}

// graceRecorder records the grace of every stop.
type graceRecorder struct {
	*fake.Runtime
	mu     sync.Mutex
	graces []time.Duration
}

func (r *graceRecorder) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	r.mu.Lock()
	r.graces = append(r.graces, grace)
	r.mu.Unlock()
	return r.Runtime.StopContainer(ctx, id, grace)
}

func (r *graceRecorder) maxGrace() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var m time.Duration
	for _, g := range r.graces {
		m = max(m, g)
	}
	return m
}

// countStatusWrites counts UpdateStatus and Update calls.
type countStatusWrites struct {
	*store.Bolt
	writes atomic.Int32
}

func (s *countStatusWrites) UpdateStatus(ctx context.Context, t *v1.Task) (*v1.Task, error) {
	s.writes.Add(1)
	return s.Bolt.UpdateStatus(ctx, t)
}

func (s *countStatusWrites) Update(ctx context.Context, t *v1.Task) (*v1.Task, error) {
	s.writes.Add(1)
	return s.Bolt.Update(ctx, t)
}

// syncedLog collects log lines from several goroutines.
type syncedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// A fenced node plans stops and removals only: nothing is created,
// started or restarted, the status stays as it is, no finalizer is
// released, no crash is counted and nothing is requeued.
func TestDecide_Fenced(t *testing.T) {
	fenced := func(o observation) observation { o.fenced = true; return o }
	cases := []struct {
		name string
		obs  observation
		want string
	}{
		{"new task: not created",
			fenced(observe(newTestTask(fresh()))),
			"=>  restarts=0"},
		{"created, never started: not started",
			fenced(observe(newTestTask(state(v1.Scheduled)), cur(0, runtime.StateCreated))),
			"=> Scheduled restarts=0"},
		{"Always task whose container exited after a steady run: not restarted",
			fenced(observe(newTestTask(), cur(0, runtime.StateExited, exitCode(143), ranFor(time.Hour)))),
			"=> Running restarts=0"},
		{"Always task in crash-loop back-off: no requeue",
			fenced(observe(newTestTask(), cur(0, runtime.StateExited, exitCode(3)))),
			"=> Running restarts=0"},
		{"container removed from outside mid-run: not recreated",
			fenced(observe(newTestTask(statusContainer("c1.0")))),
			"=> Running restarts=0"},
		{"Never job that exited: the status is not written",
			fenced(observe(newTestTask(policy(v1.RestartNever)), cur(0, runtime.StateExited, exitCode(3)))),
			"=> Running restarts=0"},
		{"desiredState Completed: the stop is kept",
			fenced(observe(newTestTask(desired(v1.Completed)), cur(0, runtime.StateRunning))),
			"stop cubelet-node-a-web-uid-1-1.0 (desiredState is Completed)\n=> Running restarts=0"},
		{"stale attempts: removed",
			fenced(observe(newTestTask(restartCount(2)), cur(0, runtime.StateExited), cur(1, runtime.StateExited), cur(2, runtime.StateRunning))),
			"remove cubelet-node-a-web-uid-1-1.0 (not the current or previous attempt)\n=> Running restarts=2"},
		{"being deleted: containers removed, finalizer kept",
			fenced(observe(newTestTask(deleting()), cur(0, runtime.StateRunning))),
			"remove cubelet-node-a-web-uid-1-1.0 (task is being deleted)\n=> Running restarts=0"},
		{"bound elsewhere: our stale container removed",
			fenced(onNode(observe(newTestTask(boundTo("node-b")), cur(0, runtime.StateRunning)), "node-a")),
			"remove cubelet-node-a-web-uid-1-1.0 (task bound to node node-b)\n=> Running restarts=0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := decide(c.obs)
			if got := p.String(); got != c.want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, c.want)
			}
			if c.obs.task != nil && p.status.State != c.obs.task.Status.State {
				t.Errorf("status changed while fenced")
			}
		})
	}
	orphans := decide(fenced(observation{containers: []runtime.Container{attempt(newTestTask(), 0, runtime.StateRunning)}, now: t0}))
	if got, want := orphans.String(), "remove cubelet-node-a-web-uid-1-1.0 (task no longer exists)\n=> "; !strings.HasPrefix(got, want) {
		t.Errorf("task gone while fenced: plan %q, want the orphan removed", got)
	}
}

// A sync while the lease is not held starts nothing for an Always task
// whose container exited, and writes no status; once held again the same
// sync restarts it.
func TestSync_Fenced_StartsNothingWritesNothing(t *testing.T) {
	rt := fake.New(fake.WithImages(testImage))
	st := &countStatusWrites{Bolt: openStore(t)}
	lease := newTestLease(false)
	tasks := NewTaskInformer(st, 0)
	containers := NewContainerInformer(rt, testInstance, ContainerInformerOptions{})
	ctrl := New(st, rt, tasks, containers, Options{NodeLease: lease})
	ctx := context.Background()

	stored, err := st.Create(ctx, newTestTask())
	if err != nil {
		t.Fatal(err)
	}
	id, err := rt.CreateContainer(ctx, containerSpec(testInstance, stored, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := rt.Exit(id, 143, false); err != nil {
		t.Fatal(err)
	}
	c, _ := rt.InspectContainer(ctx, id)
	c.StartedAt = c.FinishedAt.Add(-time.Hour) // a steady run: restarted at once
	if err := ctrl.tasks.Add(stored); err != nil {
		t.Fatal(err)
	}
	if err := ctrl.containers.Add(newObservedContainer(c, "1", "")); err != nil {
		t.Fatal(err)
	}
	st.writes.Store(0)
	calls := rt.Calls()

	if _, err := ctrl.syncHandler(ctx, stored.Name, "test"); err != nil {
		t.Fatal(err)
	}
	after := rt.Calls()
	for _, m := range []string{fake.MethodCreateContainer, fake.MethodStartContainer, fake.MethodPullImage} {
		if after[m] != calls[m] {
			t.Errorf("fenced sync called %s (%d -> %d)", m, calls[m], after[m])
		}
	}
	if n := st.writes.Load(); n != 0 {
		t.Errorf("fenced sync wrote the store %d times, want 0", n)
	}

	lease.set(true)
	if _, err := ctrl.syncHandler(ctx, stored.Name, "test"); err != nil {
		t.Fatal(err)
	}
	if got := rt.CallCount(fake.MethodCreateContainer) - calls[fake.MethodCreateContainer]; got != 1 {
		t.Errorf("sync with the lease held: %d creates, want the restart", got)
	}
}

// The fence stops every running container of this instance the engine
// lists, also those the container cache does not know, with the short
// fence grace; it leaves other instances' containers alone.
func TestFence_StopsAllOwnRunningContainers_FromTheEngine(t *testing.T) {
	rt := &graceRecorder{Runtime: fake.New(fake.WithImages(testImage))}
	st := openStore(t)
	reg := prometheus.NewRegistry()
	logs := &syncedLog{}
	ctrl := New(st, rt, NewTaskInformer(st, 0), NewContainerInformer(rt, testInstance, ContainerInformerOptions{}),
		Options{NodeLease: newTestLease(false), Metrics: NewMetrics(reg), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx := context.Background()
	var own []string
	for i := range 3 {
		task := newTestTask(func(t *v1.Task) { t.Name = fmt.Sprintf("t%d", i); t.UID = "u" })
		id, err := rt.CreateContainer(ctx, containerSpec(testInstance, task, 0))
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		own = append(own, id)
	}
	other := containerSpec("node-b", newTestTask(), 0)
	otherID, err := rt.CreateContainer(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.StartContainer(ctx, otherID); err != nil {
		t.Fatal(err)
	}

	ctrl.stopAllContainers(ctx) // the container cache is empty

	for _, id := range own {
		c, err := rt.InspectContainer(ctx, id)
		if err != nil || c.Running() {
			t.Errorf("own container %s: running=%v err=%v, want stopped", id, c.Running(), err)
		}
	}
	if c, _ := rt.InspectContainer(ctx, otherID); !c.Running() {
		t.Errorf("another instance's container was stopped")
	}
	if g := rt.maxGrace(); g != fenceGrace {
		t.Errorf("fence stop grace %s, want %s", g, fenceGrace)
	}
	if got := testutil.ToFloat64(ctrl.metrics.fenced); got != 3 {
		t.Errorf("cubelet_fenced_containers_total = %v, want 3", got)
	}
	if n := strings.Count(logs.String(), `msg="fence: stopped"`); n != 3 || !strings.Contains(logs.String(), "task=t1") {
		t.Errorf("log has %d \"fence: stopped\" lines, want 3 naming their task:\n%s", n, logs.String())
	}
}

// A running controller whose lease is lost stops its containers, starts
// nothing (its Always task's container stays exited) and writes no
// status; when the lease is held again it restarts the task.
func TestController_LeaseLost_FencesThenRestartsWhenHeldAgain(t *testing.T) {
	engine := fake.New(fake.WithImages(testImage))
	rt := &graceRecorder{Runtime: engine}
	bolt := openStore(t)
	st := &countStatusWrites{Bolt: bolt}
	lease := newTestLease(true)
	h, stop := startOverStoppable(t, st, bolt, rt, engine, func(o *Options) { o.NodeLease = lease })
	t.Cleanup(stop)
	h.put("svc", nil)
	first := h.waitState("svc", v1.Running)

	lease.set(false)
	eventually(t, 10*time.Second, "the container stopped by the fence", func() (bool, string) {
		c, err := engine.InspectContainer(context.Background(), first.Status.ContainerID)
		return err == nil && !c.Running(), fmt.Sprintf("state %s err %v", c.State, err)
	})
	h.settle()
	writes := st.writes.Load()
	// Nudge the controller: a resync of every task while fenced.
	h.ctrl.requeueAll()
	h.settle()
	if n := st.writes.Load(); n != writes {
		t.Errorf("fenced controller wrote the store %d times", n-writes)
	}
	for _, c := range h.containersOf("svc") {
		if c.Running() {
			t.Fatalf("container %s runs while fenced", c.Name)
		}
	}
	if g := rt.maxGrace(); g != fenceGrace {
		t.Errorf("fence stop grace %s, want %s", g, fenceGrace)
	}

	lease.set(true)
	eventually(t, 10*time.Second, "svc running again in a new container", func() (bool, string) {
		task := h.get("svc")
		for _, c := range h.containersOf("svc") {
			if c.Running() && c.ID == task.Status.ContainerID && c.ID != first.Status.ContainerID {
				return true, ""
			}
		}
		return false, fmt.Sprintf("state %s reason %s container %s", task.Status.State, task.Status.Reason, shortID(task.Status.ContainerID))
	})
}

// A lease that goes away because cubelet is shutting down (the lease's
// Stop ends it) fences nothing: a stopped cubelet leaves its
// containers running.
func TestController_LeaseGoneAtShutdown_LeavesContainersRunning(t *testing.T) {
	engine := fake.New(fake.WithImages(testImage))
	bolt := openStore(t)
	lease := newTestLease(true)
	ctx, cancel := context.WithCancel(context.Background())
	ctrl, stopInformers := newTestController(ctx, bolt, engine, time.Hour, Options{NodeLease: lease})
	defer stopInformers()
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx, 2) }()
	h := &harness{t: t, store: bolt, rt: engine, ctrl: ctrl}
	h.put("svc", nil)
	h.waitState("svc", v1.Running)
	// serve's order: the signal ends the context, then the lease's Stop
	// (it follows the same context) ends it while the controller
	// drains.
	cancel()
	lease.set(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, c := range h.containersOf("svc") {
		if !c.Running() {
			t.Fatalf("container %s stopped at shutdown", c.Name)
		}
	}
}

func TestVersionBefore(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{{"9", "10", true}, {"10", "9", false}, {"10", "10", false}, {"x", "x", false}, {"x", "y", true}} {
		if got := versionBefore(c.a, c.b); got != c.want {
			t.Errorf("versionBefore(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

// A node that holds its lease again opens its fence only once its task
// cache shows what the store holds: a cache that still binds a task here
// after the leader moved it would restart it here too.
func TestFence_TaskCacheCaughtUp(t *testing.T) {
	at := func(rv string, opts ...taskOpt) v1.Task {
		task := newTestTask(opts...)
		task.ResourceVersion = rv
		return *task
	}
	named := func(name string) taskOpt { return func(t *v1.Task) { t.Name = name } }
	cases := []struct {
		name   string
		cached []v1.Task
		listed v1.TaskList
		want   bool
	}{
		{"same versions", []v1.Task{at("5")}, v1.TaskList{Items: []v1.Task{at("5")}}, true},
		{"cache newer than the list", []v1.Task{at("8")}, v1.TaskList{Items: []v1.Task{at("5")}}, true},
		{"moved to another node, the cache still binds it here", []v1.Task{at("5", boundTo("node-a"))},
			v1.TaskList{Items: []v1.Task{at("7", boundTo("node-b"))}}, false},
		{"in the store, not yet in the cache", nil, v1.TaskList{Items: []v1.Task{at("5")}}, false},
		{"deleted in the store, still cached", []v1.Task{at("5"), at("3", named("gone"))},
			func() v1.TaskList { l := v1.TaskList{Items: []v1.Task{at("5")}}; l.ResourceVersion = "9"; return l }(), false},
		{"created after the list", []v1.Task{at("5"), at("12", named("new"))},
			func() v1.TaskList { l := v1.TaskList{Items: []v1.Task{at("5")}}; l.ResourceVersion = "9"; return l }(), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newSyncFixture(t)
			f.ctrl.tasksSynced = func() bool { return true }
			for i := range c.cached {
				if err := f.ctrl.tasks.Add(&c.cached[i]); err != nil {
					t.Fatal(err)
				}
			}
			if got := f.ctrl.taskCacheCaughtUp(&c.listed); got != c.want {
				t.Errorf("caught up = %v, want %v", got, c.want)
			}
		})
	}
}
