package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
)

// unfitLog counts the "no node fits" lines per task.
type unfitLog struct {
	mu     sync.Mutex
	byTask map[string]int
}

func (l *unfitLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *unfitLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *unfitLog) WithGroup(string) slog.Handler            { return l }
func (l *unfitLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "scheduler: no node fits" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "task" {
			l.mu.Lock()
			l.byTask[a.Value.String()]++
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

func (l *unfitLog) count(task string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byTask[task]
}

// A task no node fits is logged once while its reasons stay the same, not
// at every pass; and a change of a node (here an uncordon) starts a pass
// at once: with a resync of a minute, the waiting task is bound within
// seconds only because the scheduler watches the node keys.
func TestScheduler_UnfitLoggedOnce_UncordonWakesAtOnce(t *testing.T) {
	ctx, open := startTestEtcd(t, "/wake/")
	e := open("node-a")
	l, err := e.RegisterNode(ctx, store.NodeRegistration{Capacity: testCapacity})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	if err := e.SetNodeUnschedulable(ctx, "node-a", true); err != nil {
		t.Fatal(err)
	}

	logs := &unfitLog{byTask: map[string]int{}}
	s := New(withInformer(t, ctx, Options{Client: e.Client(), Prefix: e.Prefix(), NodeName: "node-a", Tasks: e, Nodes: e,
		SessionTTL: 2, Resync: time.Minute, Logger: slog.New(logs)}))
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(sctx) }()
	defer func() { stop(); <-done }()

	create := func(name string) {
		t.Helper()
		tk := &v1.Task{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.TaskSpec{Image: "busybox"}}
		v1.SetDefaults(tk)
		if _, err := e.Create(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	// Each new unbound task starts a pass that looks at "waiting" again.
	create("waiting")
	for i := range 3 {
		name := fmt.Sprintf("later-%d", i)
		create(name)
		eventually(t, 10*time.Second, func() (bool, string) {
			return logs.count(name) == 1, name + " not logged as unfit yet"
		})
	}
	if n := logs.count("waiting"); n != 1 {
		t.Errorf(`"no node fits" logged %d times for the waiting task over 4 passes, want once`, n)
	}

	if err := e.SetNodeUnschedulable(ctx, "node-a", false); err != nil {
		t.Fatal(err)
	}
	// Within 10 s, where the resync alone would take a minute.
	eventually(t, 10*time.Second, func() (bool, string) {
		got, err := e.Get(ctx, "waiting")
		if err != nil {
			return false, err.Error()
		}
		return got.Spec.NodeName == "node-a", "waiting not bound after the uncordon"
	})
}
