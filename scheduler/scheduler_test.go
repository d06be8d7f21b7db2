package scheduler

import (
	"context"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
)

// Two cubelets' schedulers on one etcd, with two registered nodes: every
// task is bound exactly once (a binding is never changed: counted on a
// watch), over both nodes, a task naming its node is left as it is, and
// when the leader stops the other one takes over.
func TestScheduler_TwoCandidates_EveryTaskBoundOnce(t *testing.T) {
	ctx, open := startTestEtcd(t, "/sched/")
	a, b := open("node-a"), open("node-b")
	for _, e := range []*store.Etcd{a, b} {
		l, err := e.RegisterNode(ctx, store.NodeRegistration{Capacity: testCapacity})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Stop()
	}

	// Every binding seen: a task bound twice would show two.
	w, err := a.Watch(ctx, "0")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	bindings := map[string][]string{}
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for ev := range w.ResultChan() {
			if ev.Type == watch.Bookmark || ev.Type == watch.Error {
				continue
			}
			tk := ev.Object.(*v1.Task)
			mu.Lock()
			if bs := bindings[tk.Name]; tk.Spec.NodeName != "" && (len(bs) == 0 || bs[len(bs)-1] != tk.Spec.NodeName) {
				bindings[tk.Name] = append(bs, tk.Spec.NodeName)
			}
			mu.Unlock()
		}
	}()

	runs := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	for name, e := range map[string]*store.Etcd{"node-a": a, "node-b": b} {
		sctx, stop := context.WithCancel(ctx)
		runs[name] = stop
		s := New(withInformer(t, ctx, Options{Client: e.Client(), Prefix: e.Prefix(), NodeName: name, Tasks: e, Nodes: e, SessionTTL: 2}))
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Run(sctx) }()
	}
	defer func() {
		for _, stop := range runs {
			stop()
		}
		wg.Wait()
	}()

	create := func(name, nodeName string) {
		t.Helper()
		tk := &v1.Task{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.TaskSpec{Image: "busybox", NodeName: nodeName}}
		v1.SetDefaults(tk)
		if _, err := a.Create(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	const n = 20
	for i := range n {
		create("t"+string(rune('a'+i)), "")
	}
	create("pinned", "node-a")

	waitAllBound := func(want int) map[string]int {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			list, err := a.List(ctx, labels.Everything())
			if err != nil {
				t.Fatal(err)
			}
			per, bound := map[string]int{}, 0
			for _, tk := range list.Items {
				if tk.Spec.NodeName != "" {
					bound++
					per[tk.Spec.NodeName]++
				}
			}
			if bound == want {
				return per
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d tasks bound after 15s", bound, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	per := waitAllBound(n + 1)
	if per["node-a"] == 0 || per["node-b"] == 0 {
		t.Errorf("tasks per node %v, want both used", per)
	}
	if got, err := a.Get(ctx, "pinned"); err != nil || got.Spec.NodeName != "node-a" {
		t.Errorf("pinned task: %v %v, want left on node-a", got, err)
	}

	// A task no node fits stays unbound; deleted, it is finalized by the
	// scheduler (no node would) and goes away.
	stuck := &v1.Task{ObjectMeta: metav1.ObjectMeta{Name: "nowhere", Finalizers: []string{v1.FinalizerContainers}},
		Spec: v1.TaskSpec{Image: "busybox", NodeSelector: map[string]string{"gpu": "yes"}}}
	v1.SetDefaults(stuck)
	stored, err := a.Create(ctx, stuck)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Delete(ctx, "nowhere", string(stored.UID)); err != nil {
		t.Fatal(err)
	}
	typo := &v1.Task{ObjectMeta: metav1.ObjectMeta{Name: "typo", Finalizers: []string{v1.FinalizerContainers}},
		Spec: v1.TaskSpec{Image: "busybox", NodeName: "node-x"}}
	v1.SetDefaults(typo)
	if stored, err = a.Create(ctx, typo); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Delete(ctx, "typo", string(stored.UID)); err != nil {
		t.Fatal(err)
	}
	gone := time.Now().Add(10 * time.Second)
	for {
		_, err := a.Get(ctx, "nowhere")
		if _, err2 := a.Get(ctx, "typo"); !apierrors.IsNotFound(err2) {
			err = err2
		}
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(gone) {
			t.Fatalf("deleted unbound task still there after 10s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Stop whichever scheduler leads (the candidate key created first); the other one binds what comes next.
	leaderResp, err := a.Client().Get(ctx, "/sched/scheduler-leader", clientv3WithPrefix()...)
	if err != nil || len(leaderResp.Kvs) == 0 {
		t.Fatalf("no leader key: %v", err)
	}
	leader := string(leaderResp.Kvs[0].Value)
	runs[leader]()
	create("after-failover", "")
	waitAllBound(n + 2)

	w.Stop()
	<-watched
	mu.Lock()
	defer mu.Unlock()
	for name, bs := range bindings {
		if len(bs) != 1 {
			t.Errorf("task %s bound %v, want exactly once", name, bs)
		}
	}
}

func clientv3WithPrefix() []clientv3.OpOption {
	return []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend)}
}
