package scheduler

import (
	"context"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
)

func TestMoveOf(t *testing.T) {
	now := metav1.Now()
	task := func(node string, policy v1.RestartPolicy, desired, state v1.State, observed int64) *v1.Task {
		return &v1.Task{ObjectMeta: metav1.ObjectMeta{Name: "t", Generation: 2},
			Spec:   v1.TaskSpec{NodeName: node, RestartPolicy: policy, DesiredState: desired},
			Status: v1.TaskStatus{State: state, ObservedGeneration: observed}}
	}
	deleting := task("a", v1.RestartAlways, v1.Running, v1.Running, 2)
	deleting.DeletionTimestamp = &now
	cube := task("a", v1.RestartNever, v1.Running, v1.Failed, 1)
	cube.Annotations = map[string]string{v1.AnnotationRestartAuthority: v1.RestartAuthorityCubeManager}
	for _, tc := range []struct {
		name   string
		task   *v1.Task
		want   drainMove
		reason string
	}{
		{"Always running", task("a", v1.RestartAlways, v1.Running, v1.Running, 2), drainBind, ""},
		{"Always crash-looping", task("a", v1.RestartAlways, v1.Running, v1.Failed, 2), drainBind, ""},
		{"Always not started yet", task("a", v1.RestartAlways, v1.Running, "", 0), drainBind, ""},
		{"OnFailure running", task("a", v1.RestartOnFailure, v1.Running, v1.Running, 2), drainBind, ""},
		{"OnFailure failed, to be restarted", task("a", v1.RestartOnFailure, v1.Running, v1.Failed, 2), drainBind, ""},
		{"OnFailure completed: ended", task("a", v1.RestartOnFailure, v1.Running, v1.Completed, 2), drainSkip, ""},
		{"OnFailure completed an older generation", task("a", v1.RestartOnFailure, v1.Running, v1.Completed, 1), drainBind, ""},
		{"Never running", task("a", v1.RestartNever, v1.Running, v1.Running, 2), drainLeave, v1.DrainLeftNever},
		{"Never pending (a container may be starting)", task("a", v1.RestartNever, v1.Running, v1.Pending, 1), drainLeave, v1.DrainLeftNever},
		{"Never completed", task("a", v1.RestartNever, v1.Running, v1.Completed, 2), drainSkip, ""},
		{"Never failed", task("a", v1.RestartNever, v1.Running, v1.Failed, 2), drainSkip, ""},
		{"Cube task, manager to restart it", cube, drainLeave, v1.DrainLeftCubeManaged},
		{"stopped", task("a", v1.RestartAlways, v1.Completed, v1.Completed, 2), drainSkip, ""},
		{"being deleted", deleting, drainSkip, ""},
		{"bound elsewhere", task("b", v1.RestartAlways, v1.Running, v1.Running, 2), drainSkip, ""},
		{"unbound", task("", v1.RestartAlways, v1.Running, v1.Pending, 0), drainSkip, ""},
	} {
		got, reason, _ := moveOf(tc.task, "a")
		if got != tc.want || reason != tc.reason {
			t.Errorf("%s: %v %q, want %v %q", tc.name, got, reason, tc.want, tc.reason)
		}
	}
}

// racing is a task store whose first Update of each named task lets
// another writer in first (as a node's status write or a failover would),
// so the drain's compare-and-swap loses once.
type racing struct {
	store.Interface
	mu     sync.Mutex
	before map[string]func()
}

func (r *racing) Update(ctx context.Context, t *v1.Task) (*v1.Task, error) {
	r.mu.Lock()
	f := r.before[t.Name]
	delete(r.before, t.Name)
	r.mu.Unlock()
	if f != nil {
		f()
	}
	return r.Interface.Update(ctx, t)
}

// On a real etcd: drain cordons node-a and binds its Always tasks to
// node-b with a compare-and-swap. A task changed between the drain's read
// and its bind is read again and bound with the change kept; a task that
// was bound elsewhere meanwhile is left as the other writer bound it; a
// running Never job stays.
func TestDrain_Etcd_MovesWithCAS(t *testing.T) {
	ctx, open := startTestEtcd(t, "/drain/")
	a, b, c := open("node-a"), open("node-b"), open("node-c")
	for _, e := range []*store.Etcd{a, b, c} {
		l, err := e.RegisterNode(ctx, store.NodeRegistration{Capacity: testCapacity})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Stop()
	}
	if err := a.SetNodeUnschedulable(ctx, "node-c", true); err != nil {
		t.Fatal(err)
	}
	create := func(name string, policy v1.RestartPolicy) {
		t.Helper()
		tk := &v1.Task{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.TaskSpec{Image: "busybox", NodeName: "node-a", RestartPolicy: policy}}
		v1.SetDefaults(tk)
		stored, err := a.Create(ctx, tk)
		if err != nil {
			t.Fatal(err)
		}
		stored.Status.State, stored.Status.ObservedGeneration = v1.Running, stored.Generation
		if _, err := a.UpdateStatus(ctx, stored); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"w1", "w2", "w3", "relabelled", "stolen"} {
		create(name, v1.RestartAlways)
	}
	create("job", v1.RestartNever)

	tasks := &racing{Interface: a, before: map[string]func(){
		// The user re-applies with a label: the drain must bind the
		// task as changed, not write the old one back.
		"relabelled": func() {
			cur, err := b.Get(ctx, "relabelled")
			if err != nil {
				t.Error(err)
				return
			}
			cur.Labels = map[string]string{"tier": "web"}
			if _, err := b.Update(ctx, cur); err != nil {
				t.Error(err)
			}
		},
		// Another writer (a failover, another drain) binds it to node-c.
		"stolen": func() {
			cur, err := b.Get(ctx, "stolen")
			if err != nil {
				t.Error(err)
				return
			}
			cur.Spec.NodeName = "node-c"
			if _, err := b.Update(ctx, cur); err != nil {
				t.Error(err)
			}
		},
	}}
	d, err := Drain(ctx, tasks, a, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	if !d.Node.Spec.Unschedulable || d.Node.Name != "node-a" {
		t.Errorf("drained node %+v, want node-a cordoned", d.Node)
	}
	moved := map[string]string{}
	for _, m := range d.Moved {
		moved[m.Name] = m.NodeName
	}
	if len(moved) != 4 || moved["w1"] != "node-b" || moved["w2"] != "node-b" || moved["w3"] != "node-b" || moved["relabelled"] != "node-b" {
		t.Errorf("moved %+v, want w1 w2 w3 relabelled to node-b (node-c is cordoned, stolen is no longer node-a's)", d.Moved)
	}
	if len(d.Left) != 1 || d.Left[0].Name != "job" || d.Left[0].Reason != v1.DrainLeftNever {
		t.Errorf("left %+v, want the Never job", d.Left)
	}

	for name, want := range map[string]struct {
		node string
		gen  int64
	}{"w1": {"node-b", 2}, "relabelled": {"node-b", 2}, "stolen": {"node-c", 2}, "job": {"node-a", 1}} {
		got, err := a.Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.NodeName != want.node || got.Generation != want.gen {
			t.Errorf("task %s on %q generation %d, want %s generation %d", name, got.Spec.NodeName, got.Generation, want.node, want.gen)
		}
		if name == "relabelled" && got.Labels["tier"] != "web" {
			t.Errorf("task relabelled lost the concurrent change: labels %v", got.Labels)
		}
	}

	// Drain again: nothing more to move, the job still left.
	d, err = Drain(ctx, a, a, "node-a")
	if err != nil || len(d.Moved) != 0 || len(d.Left) != 1 {
		t.Errorf("second drain: %+v %v, want nothing moved, the job left", d, err)
	}
}
