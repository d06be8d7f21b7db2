package store

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// fixedNow is the clock of test stores, already at second precision.
var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// openTestStore opens a store in a fresh directory and closes it with the
// test.
func openTestStore(t testing.TB, opts Options) (*Bolt, string) {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return fixedNow }
	}
	dir := t.TempDir()
	b, err := OpenDir(dir, opts)
	if err != nil {
		t.Fatalf("OpenDir: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b, dir
}

func newTask(name string) *v1.Task {
	t := &v1.Task{Spec: v1.TaskSpec{Image: "nginx:1.27"}, Status: v1.TaskStatus{State: v1.Pending}}
	t.Name = name
	return t
}

func mustCreate(t testing.TB, b Interface, task *v1.Task) *v1.Task {
	t.Helper()
	got, err := b.Create(context.Background(), task)
	if err != nil {
		t.Fatalf("Create %s: %v", task.Name, err)
	}
	return got
}

// nextEvent returns the next event of w, failing the test after a deadline.
func nextEvent(t testing.TB, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatalf("watch closed, want an event")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatalf("no watch event within 5s")
	}
	return watch.Event{}
}

// expectNoEvent asserts that w has nothing to deliver right now. Events are
// queued before writes return, so a short grace is enough.
func expectNoEvent(t testing.TB, w watch.Interface) {
	t.Helper()
	select {
	case ev := <-w.ResultChan():
		t.Fatalf("unexpected event %s %s", ev.Type, ev.Object.(*v1.Task).ResourceVersion)
	case <-time.After(50 * time.Millisecond):
	}
}

// waitClosed waits until w's result channel is closed, draining it.
func waitClosed(t testing.TB, w watch.Interface) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-w.ResultChan():
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("watch result channel not closed within 5s")
		}
	}
}

type eventSummary struct {
	Type watch.EventType
	Name string
	RV   string
}

func summarize(ev watch.Event) eventSummary {
	task := ev.Object.(*v1.Task)
	return eventSummary{Type: ev.Type, Name: task.Name, RV: task.ResourceVersion}
}
