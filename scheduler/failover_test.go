package scheduler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
)

func boundTask(policy v1.RestartPolicy, st v1.State, opts ...func(*v1.Task)) *v1.Task {
	t := &v1.Task{
		ObjectMeta: metav1.ObjectMeta{Name: "t", Generation: 3},
		Spec:       v1.TaskSpec{Image: "busybox", NodeName: "node-b", RestartPolicy: policy, DesiredState: v1.Running},
		Status:     v1.TaskStatus{State: st, ObservedGeneration: 3},
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

func TestFailoverPlan(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	const grace = 2 * time.Second
	after := t0.Add(grace)
	deleted := func(t *v1.Task) { now := metav1.NewTime(t0); t.DeletionTimestamp = &now }
	finalizer := func(t *v1.Task) { t.Finalizers = []string{v1.FinalizerContainers} }
	stopped := func(t *v1.Task) { t.Spec.DesiredState = v1.Completed }
	olderStatus := func(t *v1.Task) { t.Status.ObservedGeneration = 2 }
	cube := func(t *v1.Task) {
		t.Annotations = map[string]string{v1.AnnotationRestartAuthority: v1.RestartAuthorityCubeManager}
	}
	cases := []struct {
		name string
		task *v1.Task
		now  time.Time
		want failoverAction
	}{
		{"inside the grace: wait, whatever the task", boundTask(v1.RestartAlways, v1.Running), t0.Add(grace - time.Millisecond), failoverWait},
		{"inside the grace, a Never job too", boundTask(v1.RestartNever, v1.Running), t0, failoverWait},
		{"Always after the grace: rebind", boundTask(v1.RestartAlways, v1.Running), after, failoverRebind},
		{"OnFailure crash-looping: rebind", boundTask(v1.RestartOnFailure, v1.Running), after, failoverRebind},
		{"Always never started (Pending): rebind", boundTask(v1.RestartAlways, v1.Pending), after, failoverRebind},
		{"OnFailure run that Completed: left, moving it would run it again", boundTask(v1.RestartOnFailure, v1.Completed), after, failoverNone},
		// Neither policy ends a run on a failure: a Failed status (none
		// the controller writes today) is not the end (drain agrees).
		{"OnFailure Failed: rebind, it is to be restarted", boundTask(v1.RestartOnFailure, v1.Failed), after, failoverRebind},
		{"Always Failed: rebind", boundTask(v1.RestartAlways, v1.Failed), after, failoverRebind},
		{"Cube manager's task Failed: left, its manager restarts it", boundTask(v1.RestartAlways, v1.Failed, cube), after, failoverNone},
		{"Never Running: NodeLost", boundTask(v1.RestartNever, v1.Running), after, failoverNodeLost},
		{"Never Scheduled: NodeLost", boundTask(v1.RestartNever, v1.Scheduled), after, failoverNodeLost},
		{"Never Pending: NodeLost (it may have started)", boundTask(v1.RestartNever, v1.Pending), after, failoverNodeLost},
		{"Never without status: NodeLost", boundTask(v1.RestartNever, ""), after, failoverNodeLost},
		{"Never Completed: left", boundTask(v1.RestartNever, v1.Completed), after, failoverNone},
		{"Never Failed (NodeLost already, or its own failure): left", boundTask(v1.RestartNever, v1.Failed), after, failoverNone},
		{"Never Completed in an earlier generation: this run may have started, NodeLost", boundTask(v1.RestartNever, v1.Completed, olderStatus), after, failoverNodeLost},
		{"Cube manager's task is Never to cubelet: NodeLost, its manager restarts it", boundTask(v1.RestartAlways, v1.Running, cube), after, failoverNodeLost},
		{"stopped by the user: left bound", boundTask(v1.RestartAlways, v1.Running, stopped), after, failoverNone},
		{"deleted with the containers finalizer: finalize", boundTask(v1.RestartAlways, v1.Running, deleted, finalizer), after, failoverFinalize},
		{"deleted Never job: finalize, never NodeLost", boundTask(v1.RestartNever, v1.Running, deleted, finalizer), after, failoverFinalize},
		{"deleted without finalizer: nothing to release", boundTask(v1.RestartAlways, v1.Running, deleted), after, failoverNone},
		{"deleted, inside the grace: wait", boundTask(v1.RestartAlways, v1.Running, deleted, finalizer), t0.Add(time.Second), failoverWait},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := failoverPlan(c.task, t0, c.now, grace); got != c.want {
				t.Errorf("failoverPlan = %s, want %s", got, c.want)
			}
		})
	}
	if got := failoverPlan(boundTask(v1.RestartAlways, v1.Running), time.Time{}, after, grace); got != failoverNone {
		t.Errorf("node not lost: failoverPlan = %s, want none", got)
	}
}

// The NodeLost status ends the current generation's run, so that the lost
// node, back, reads a finished run (controller/decide_test.go proves it
// starts nothing then).
func TestNodeLostStatus_EndsTheCurrentRunFailed(t *testing.T) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	for _, prev := range []v1.State{"", v1.Pending, v1.Scheduled, v1.Running} {
		t.Run(string(prev), func(t *testing.T) {
			task := boundTask(v1.RestartNever, prev, func(t *v1.Task) {
				t.Status.ObservedGeneration = 2 // Pending of a new run: the status lags the generation
				t.Status.ContainerID = "c1"
				meta.SetStatusCondition(&t.Status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Running"})
			})
			s := nodeLostStatus(task, "node-b", 2*time.Second, now)
			if s.State != v1.Failed || s.Reason != v1.ReasonNodeLost || !strings.Contains(s.Message, "node node-b lost") {
				t.Errorf("status %s/%s %q, want Failed/NodeLost naming the node", s.State, s.Reason, s.Message)
			}
			if s.ObservedGeneration != task.Generation {
				t.Errorf("observedGeneration %d, want %d: the current run ended", s.ObservedGeneration, task.Generation)
			}
			from := prev
			if from == "" {
				from = v1.Pending
			}
			if !v1.CanTransition(from, v1.Failed) {
				t.Errorf("%s -> Failed is not in the transition table", from)
			}
			if n := len(s.Transitions); n != 1 || s.Transitions[0].From != from || s.Transitions[0].To != v1.Failed || s.Transitions[0].Reason != v1.ReasonNodeLost {
				t.Errorf("transitions %+v, want one %s -> Failed NodeLost", s.Transitions, from)
			}
			if s.ContainerID != "c1" {
				t.Errorf("containerID %q, want kept: it names what may have run", s.ContainerID)
			}
			if meta.IsStatusConditionTrue(s.Conditions, "Ready") || !meta.IsStatusConditionTrue(s.Conditions, "Degraded") {
				t.Errorf("conditions %+v, want Ready False, Degraded True", s.Conditions)
			}
			if task.Status.State != prev || task.Status.Reason != "" {
				t.Errorf("nodeLostStatus mutated its input")
			}
		})
	}
}

// eventually polls cond until it holds or the deadline passes; cond says
// what it saw, for the failure message.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, saw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two nodes on a real etcd; node-b's lease ends. Inside the grace nothing
// of node-b's is touched; after it, its Always and OnFailure tasks are
// bound to node-a as a new run (one new generation), its running and
// pending Never jobs end Failed/NodeLost still bound to node-b, its
// finished Never job and its stopped task are untouched, its deleted task
// is finalized, and a task that fits only node-b is unbound. node-b back:
// its clock is reset, and the unbound task is bound to it again.
func TestScheduler_NodeLost_FailsOverAfterTheGrace(t *testing.T) {
	ctx, open := startTestEtcd(t, "/failover/")
	a, b := open("node-a"), open("node-b")
	capacity := testCapacity
	la, err := a.RegisterNode(ctx, store.NodeRegistration{Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	defer la.Stop()
	regB := store.NodeRegistration{Capacity: capacity, Labels: map[string]string{"gpu": "yes"}}
	lb, err := b.RegisterNode(ctx, regB)
	if err != nil {
		t.Fatal(err)
	}

	type opt func(*v1.Task)
	policy := func(p v1.RestartPolicy) opt { return func(t *v1.Task) { t.Spec.RestartPolicy = p } }
	status := func(s v1.State, observed int64) opt {
		return func(t *v1.Task) { t.Status.State, t.Status.ObservedGeneration = s, observed }
	}
	create := func(name, node string, opts ...opt) *v1.Task {
		t.Helper()
		tk := &v1.Task{ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: []string{v1.FinalizerContainers}}, Spec: v1.TaskSpec{Image: "busybox", NodeName: node}}
		v1.SetDefaults(tk)
		tk.Status.State, tk.Status.ObservedGeneration = v1.Running, 1
		for _, o := range opts {
			o(tk)
		}
		out, err := a.Create(ctx, tk)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	create("always", "node-b")
	create("onfailure", "node-b", policy(v1.RestartOnFailure))
	create("never-running", "node-b", policy(v1.RestartNever))
	create("never-pending", "node-b", policy(v1.RestartNever), status(v1.Pending, 0))
	create("never-done", "node-b", policy(v1.RestartNever), status(v1.Completed, 1))
	create("stopped", "node-b", func(t *v1.Task) { t.Spec.DesiredState = v1.Completed }, status(v1.Completed, 1))
	create("gpu-only", "node-b", func(t *v1.Task) { t.Spec.NodeSelector = map[string]string{"gpu": "yes"} })
	create("on-a", "node-a")
	del := create("deleting", "node-b")
	if _, err := a.Delete(ctx, "deleting", string(del.UID)); err != nil {
		t.Fatal(err)
	}
	before, err := a.List(ctx, labels.Everything())
	if err != nil {
		t.Fatal(err)
	}
	rvs := map[string]string{}
	for _, tk := range before.Items {
		rvs[tk.Name] = tk.ResourceVersion
	}

	const grace = 2 * time.Second
	reg := prometheus.NewRegistry()
	s := New(withInformer(t, ctx, Options{Client: a.Client(), Prefix: a.Prefix(), NodeName: "node-a", Tasks: a, Nodes: a,
		NodeGrace: grace, Resync: 100 * time.Millisecond, SessionTTL: 2, Registerer: reg}))
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(sctx) }()
	defer func() { stop(); <-done }()
	eventually(t, 10*time.Second, func() (bool, string) {
		return testutil.ToFloat64(s.metrics.leader) == 1, "scheduler not leading"
	})

	lb.Leave() // revokes node-b's lease: NotReady at once
	var lostAt time.Time
	eventually(t, 10*time.Second, func() (bool, string) {
		var ok bool
		lostAt, ok = s.nodeLostSince("node-b")
		return ok, "leader has not seen node-b NotReady"
	})
	// Inside the grace: the list below completes before lostAt+grace, so
	// it was read before any failover could be written.
	inside, err := a.List(ctx, labels.Everything())
	if err != nil {
		t.Fatal(err)
	}
	if read := time.Now(); !read.Before(lostAt.Add(grace)) {
		t.Fatalf("list inside the grace returned %s after node-b was seen lost (grace %s): too slow to check", read.Sub(lostAt), grace)
	}
	for _, tk := range inside.Items {
		if tk.ResourceVersion != rvs[tk.Name] {
			t.Errorf("inside the grace, task %s changed: node %q generation %d status %s/%s", tk.Name, tk.Spec.NodeName, tk.Generation, tk.Status.State, tk.Status.Reason)
		}
	}

	get := func(name string) *v1.Task {
		t.Helper()
		tk, err := a.Get(ctx, name)
		if err != nil {
			t.Fatalf("get %s: %v", name, err)
		}
		return tk
	}
	eventually(t, 15*time.Second, func() (bool, string) {
		for _, name := range []string{"always", "onfailure"} {
			if tk := get(name); tk.Spec.NodeName != "node-a" {
				return false, name + " on " + tk.Spec.NodeName
			}
		}
		for _, name := range []string{"never-running", "never-pending"} {
			if tk := get(name); tk.Status.Reason != v1.ReasonNodeLost {
				return false, name + " " + string(tk.Status.State) + "/" + tk.Status.Reason
			}
		}
		if _, err := a.Get(ctx, "deleting"); !apierrors.IsNotFound(err) {
			return false, "deleting still there: " + fmt.Sprint(err)
		}
		if tk := get("gpu-only"); tk.Spec.NodeName != "" {
			return false, "gpu-only on " + tk.Spec.NodeName
		}
		return true, ""
	})
	if moved := time.Since(lostAt); moved < grace {
		t.Errorf("failover done %s after node-b was seen lost, before the grace %s", moved, grace)
	}
	for _, name := range []string{"always", "onfailure"} {
		if tk := get(name); tk.Generation != 2 {
			t.Errorf("%s generation %d, want 2: one new run on node-a", name, tk.Generation)
		}
	}
	for _, name := range []string{"never-running", "never-pending"} {
		tk := get(name)
		if tk.Spec.NodeName != "node-b" || tk.Status.State != v1.Failed || tk.Status.ObservedGeneration != tk.Generation ||
			!strings.Contains(tk.Status.Message, "node-b") {
			t.Errorf("%s: node %q status %s/%s observed %d of %d %q, want Failed/NodeLost of this generation, still on node-b",
				name, tk.Spec.NodeName, tk.Status.State, tk.Status.Reason, tk.Status.ObservedGeneration, tk.Generation, tk.Status.Message)
		}
	}
	for _, name := range []string{"never-done", "stopped", "on-a"} {
		if tk := get(name); tk.ResourceVersion != rvs[name] {
			t.Errorf("%s changed: node %q generation %d status %s/%s", name, tk.Spec.NodeName, tk.Generation, tk.Status.State, tk.Status.Reason)
		}
	}
	for kind, want := range map[string]float64{kindRebound: 2, kindUnbound: 1, kindNodeLost: 2, kindFinalized: 1} {
		if got := testutil.ToFloat64(s.metrics.failovers.WithLabelValues(kind)); got != want {
			t.Errorf("failovers{kind=%s} = %v, want %v", kind, got, want)
		}
	}

	// Writes under a resourceVersion read before the failover change
	// nothing: the compare-and-swap answers 409, counted as a conflict.
	conflicts := testutil.ToFloat64(s.metrics.attempts.WithLabelValues(resultConflict))
	stale := map[string]*v1.Task{}
	for i := range before.Items {
		stale[before.Items[i].Name] = &before.Items[i]
	}
	nodes, err := a.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	alwaysNow, neverNow := get("always"), get("never-running")
	if err := s.rebind(ctx, stale["always"], newLoads(nodes.Items, nil)); err != nil {
		t.Errorf("stale rebind: %v", err)
	}
	if err := s.endRun(ctx, stale["never-running"], time.Now()); err != nil {
		t.Errorf("stale NodeLost write: %v", err)
	}
	if got := testutil.ToFloat64(s.metrics.attempts.WithLabelValues(resultConflict)); got != conflicts+1 {
		t.Errorf("attempts{result=conflict} = %v, want %v", got, conflicts+1)
	}
	if tk := get("always"); tk.ResourceVersion != alwaysNow.ResourceVersion {
		t.Errorf("a stale rebind changed always: node %q generation %d", tk.Spec.NodeName, tk.Generation)
	}
	if tk := get("never-running"); tk.ResourceVersion != neverNow.ResourceVersion {
		t.Errorf("a stale NodeLost write changed never-running")
	}

	// node-b back: the clock is reset, and the task only it fits goes
	// back to it, once.
	lb, err = b.RegisterNode(ctx, regB)
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Stop()
	eventually(t, 10*time.Second, func() (bool, string) {
		_, lost := s.nodeLostSince("node-b")
		return !lost && get("gpu-only").Spec.NodeName == "node-b", "node-b still lost, or gpu-only not bound to it"
	})
	if tk := get("gpu-only"); tk.Generation != 3 {
		t.Errorf("gpu-only generation %d, want 3 (unbound, then bound)", tk.Generation)
	}
	for _, name := range []string{"always", "onfailure"} {
		if tk := get(name); tk.Generation != 2 || tk.Spec.NodeName != "node-a" {
			t.Errorf("%s on %s generation %d, want left on node-a at 2", name, tk.Spec.NodeName, tk.Generation)
		}
	}
	if testutil.ToFloat64(s.metrics.attempts.WithLabelValues(resultBound)) < 3 {
		t.Errorf("attempts{result=bound} = %v, want at least 3", testutil.ToFloat64(s.metrics.attempts.WithLabelValues(resultBound)))
	}
}

// The leader's clock per node: set when first seen NotReady, kept while
// NotReady, forgotten when Ready again (a later loss starts anew) or when
// the node is no longer listed.
func TestScheduler_TrackNodes_ReadyAgainResetsTheClock(t *testing.T) {
	s := New(Options{})
	t0 := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	up, down := node("b", true, "1", "1Gi", nil), node("b", false, "1", "1Gi", nil)
	other := node("c", false, "1", "1Gi", nil)
	steps := []struct {
		nodes []v1.Node
		at    time.Time
		want  time.Time // zero: not lost
	}{
		{[]v1.Node{up}, t0, time.Time{}},
		{[]v1.Node{down}, t0.Add(time.Second), t0.Add(time.Second)},
		{[]v1.Node{down}, t0.Add(2 * time.Second), t0.Add(time.Second)},
		{[]v1.Node{up}, t0.Add(3 * time.Second), time.Time{}},
		{[]v1.Node{down, other}, t0.Add(4 * time.Second), t0.Add(4 * time.Second)},
		{[]v1.Node{other}, t0.Add(5 * time.Second), time.Time{}},
	}
	for i, st := range steps {
		lost := s.trackNodes(st.nodes, st.at)
		got, ok := s.nodeLostSince("b")
		if ok != !st.want.IsZero() || !got.Equal(st.want) || !lost["b"].Equal(st.want) {
			t.Errorf("step %d: lost since %v (%v), returned %v; want %v", i, got, ok, lost["b"], st.want)
		}
	}
	if _, ok := s.nodeLostSince("c"); !ok {
		t.Error("c, NotReady and listed, not tracked")
	}
	s.forget()
	if _, ok := s.nodeLostSince("c"); ok {
		t.Error("forget (a leadership change) kept a clock")
	}
}
