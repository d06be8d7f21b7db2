package controller

import (
	"context"
	"testing"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
	"github.com/cubelet/cubelet/runtime/fake"
)

func boundTo(node string) taskOpt { return func(t *v1.Task) { t.Spec.NodeName = node } }

func onNode(o observation, node string) observation {
	o.nodeName = node
	return o
}

// In a cluster a node acts only on tasks bound to it; a single host
// (nodeName "") ignores spec.nodeName altogether.
func TestDecide_NodeBinding(t *testing.T) {
	cases := []struct {
		name string
		obs  observation
		want string
	}{
		{"single host: a task bound to some node is still ours",
			observe(newTestTask(fresh(), boundTo("node-b"))),
			"create cubelet-node-a-web-uid-1-1.0 pull=if-missing (run of generation 1)\n=> Scheduled/ContainerCreating restarts=0"},
		{"bound here: reconciled as usual",
			onNode(observe(newTestTask(fresh(), boundTo("node-a"))), "node-a"),
			"create cubelet-node-a-web-uid-1-1.0 pull=if-missing (run of generation 1)\n=> Scheduled/ContainerCreating restarts=0"},
		{"unbound in a cluster: nothing made, status untouched",
			onNode(observe(newTestTask(fresh())), "node-a"),
			"=>  restarts=0"},
		{"unbound with our container: left alone until bound",
			onNode(observe(newTestTask(), cur(0, runtime.StateRunning)), "node-a"),
			"=> Running restarts=0"},
		{"bound elsewhere: nothing made",
			onNode(observe(newTestTask(fresh(), boundTo("node-b"))), "node-a"),
			"=>  restarts=0"},
		{"bound elsewhere with our stale container: ours removed",
			onNode(observe(newTestTask(boundTo("node-b")), cur(0, runtime.StateRunning)), "node-a"),
			"remove cubelet-node-a-web-uid-1-1.0 (task bound to node node-b)\n=> Running restarts=0"},
		{"bound elsewhere and being deleted: the other node finalizes",
			onNode(observe(newTestTask(boundTo("node-b"), deleting())), "node-a"),
			"=> Running restarts=0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := decide(c.obs)
			if got := p.String(); got != c.want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, c.want)
			}
			if c.obs.nodeName != "" && c.obs.task.Spec.NodeName != c.obs.nodeName && p.status.State != c.obs.task.Status.State {
				t.Errorf("status changed on a task that is not ours")
			}
		})
	}
}

// A sync of a task bound to another node writes nothing and makes
// nothing; one bound here runs.
func TestSync_OnlyTasksBoundToThisNode(t *testing.T) {
	rt := fake.New(fake.WithImages(testImage))
	st := openStore(t)
	tasks := NewTaskInformer(st, 0)
	containers := NewContainerInformer(rt, testInstance, ContainerInformerOptions{})
	ctrl := New(st, rt, tasks, containers, Options{Now: func() time.Time { return t0 }, NodeName: "node-a"})
	ctx := context.Background()

	other := newTestTask(fresh(), boundTo("node-b"))
	stored, err := st.Create(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctrl.tasks.Add(stored); err != nil {
		t.Fatal(err)
	}
	if _, err := ctrl.syncHandler(ctx, "web", "test"); err != nil {
		t.Fatal(err)
	}
	if n := rt.CallCount(fake.MethodCreateContainer); n != 0 {
		t.Fatalf("%d creates for a task bound to node-b", n)
	}
	got, err := st.Get(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != stored.ResourceVersion {
		t.Fatalf("task bound to node-b was written (rv %s -> %s)", stored.ResourceVersion, got.ResourceVersion)
	}

	stored.Spec.NodeName = "node-a"
	mine, err := st.Update(ctx, stored)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctrl.tasks.Update(mine); err != nil {
		t.Fatal(err)
	}
	if _, err := ctrl.syncHandler(ctx, "web", "test"); err != nil {
		t.Fatal(err)
	}
	if n := rt.CallCount(fake.MethodCreateContainer); n != 1 {
		t.Fatalf("%d creates for a task bound here, want 1", n)
	}
}
