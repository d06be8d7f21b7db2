package controller

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime/fake"
	"github.com/cubelet/cubelet/store"
)

// heldStatusWrite holds every status write, once armed, until the test
// releases it.
type heldStatusWrite struct {
	*store.Bolt
	hold    atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (s *heldStatusWrite) UpdateStatus(ctx context.Context, t *v1.Task) (*v1.Task, error) {
	if s.hold.Load() {
		s.entered <- struct{}{}
		<-s.release
	}
	return s.Bolt.UpdateStatus(ctx, t)
}

func (e *expectations) waiting(task string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tasks[task]
	return t != nil && t.blocked
}

// While a handed-over status write is in flight, an exit of the task's
// container is not acted on: the restart is decided from the status the
// write commits, not beside it.
func TestStatusWrites_WriteInFlight_HoldsTheTasksNextSync(t *testing.T) {
	st := openStore(t)
	held := &heldStatusWrite{Bolt: st, entered: make(chan struct{}, 1), release: make(chan struct{})}
	engine := fake.New(fake.WithImages(testImage))
	held.hold.Store(true)
	h := startOver(t, held, st, engine, engine)
	h.put("web", nil)
	select {
	case <-held.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no status write came")
	}
	creates := engine.CallCount("CreateContainer")
	if err := engine.Exit(h.containersOf("web")[0].ID, 1, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the exit's sync to wait for the write", func() (bool, string) {
		return h.ctrl.expectations.waiting("web"), ""
	})
	if got := engine.CallCount("CreateContainer"); got != creates {
		t.Fatalf("%d creates while the status write was in flight, want none", got-creates)
	}

	// Let every write through from now on.
	held.hold.Store(false)
	close(held.release)
	eventually(t, 10*time.Second, "the restart once the write committed", func() (bool, string) {
		task := h.get("web")
		return task.Status.State == v1.Running && task.Status.RestartCount == 1,
			fmt.Sprintf("state %s restarts %d", task.Status.State, task.Status.RestartCount)
	})
}

// failingStatusWrites fails every status write.
type failingStatusWrites struct {
	*store.Bolt
	attempts atomic.Int32
}

func (s *failingStatusWrites) UpdateStatus(context.Context, *v1.Task) (*v1.Task, error) {
	s.attempts.Add(1)
	return nil, fmt.Errorf("disk full")
}

// A status write that keeps failing backs off as any failing sync does:
// the sync that hands a write over does not reset the task's back-off,
// only a write that succeeds does.
func TestStatusWrites_FailingWrite_BacksOff(t *testing.T) {
	st := openStore(t)
	failing := &failingStatusWrites{Bolt: st}
	engine := fake.New(fake.WithImages(testImage))
	h := startOver(t, failing, st, engine, engine)
	h.put("web", nil)
	eventually(t, 10*time.Second, "back-off growing over failed status writes", func() (bool, string) {
		n := h.ctrl.workqueue.NumRequeues("web")
		return n >= 4, fmt.Sprintf("%d requeues counted, %d writes tried", n, failing.attempts.Load())
	})
}
