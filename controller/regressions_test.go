package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	goruntime "runtime"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
	"github.com/cubelet/cubelet/runtime/fake"
	"github.com/cubelet/cubelet/store"
)

// Regression tests for defects a review found; each engine or store
// wrapper injects the one fault that exposed it.

// fastExit makes every started container exit at once, as a short job does
// before cubelet has seen it running.
type fastExit struct {
	*fake.Runtime
	starts atomic.Int32
	code   int
}

func (f *fastExit) StartContainer(ctx context.Context, id string) error {
	if err := f.Runtime.StartContainer(ctx, id); err != nil {
		return err
	}
	f.starts.Add(1)
	return f.Runtime.Exit(id, f.code, false)
}

type failCreateOnce struct {
	*fake.Runtime
	armed atomic.Bool
}

func (f *failCreateOnce) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	if f.armed.CompareAndSwap(true, false) {
		return "", errors.New("engine hiccup")
	}
	return f.Runtime.CreateContainer(ctx, spec)
}

type failInspect struct {
	*fake.Runtime
	failures atomic.Int32
}

func (f *failInspect) InspectContainer(ctx context.Context, id string) (runtime.Container, error) {
	if f.failures.Add(-1) >= 0 {
		return runtime.Container{}, errors.New("i/o timeout")
	}
	return f.Runtime.InspectContainer(ctx, id)
}

// failStatusWrite fails the n-th UpdateStatus from when it is armed.
type failStatusWrite struct {
	*store.Bolt
	countdown atomic.Int32
}

func (s *failStatusWrite) UpdateStatus(ctx context.Context, t *v1.Task) (*v1.Task, error) {
	if s.countdown.Load() > 0 && s.countdown.Add(-1) == 0 {
		return nil, errors.New("disk hiccup")
	}
	return s.Bolt.UpdateStatus(ctx, t)
}

// startOver runs a controller over st and rt with one worker.
func startOver(t *testing.T, st TaskStore, bolt *store.Bolt, rt Runtime, engine *fake.Runtime) *harness {
	t.Helper()
	h, stop := startOverStoppable(t, st, bolt, rt, engine, nil)
	t.Cleanup(stop)
	return h
}

// startOverStoppable is startOver whose controller the test stops, as a
// crash would: nothing is drained or saved on the way out.
func startOverStoppable(t *testing.T, st TaskStore, bolt *store.Bolt, rt Runtime, engine *fake.Runtime, tweak func(*Options)) (*harness, func()) {
	t.Helper()
	opts := Options{Backoff: BackoffPolicy{Base: 50 * time.Millisecond, Max: time.Second, Reset: time.Minute},
		Logger: slog.New(slog.DiscardHandler), RetryBase: 10 * time.Millisecond, DrainTimeout: time.Millisecond}
	if tweak != nil {
		tweak(&opts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ctrl, stopInformers := newTestController(ctx, st, rt, time.Hour, opts)
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx, 1) }()
	stop := func() { cancel(); <-done; stopInformers() }
	select {
	case <-ctrl.Synced():
	case <-time.After(10 * time.Second):
		t.Fatal("caches did not sync")
	}
	return &harness{t: t, store: bolt, rt: engine, ctrl: ctrl}, stop
}

func openStore(t *testing.T) *store.Bolt {
	t.Helper()
	st, err := store.OpenDir(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// settle waits until the controller has nothing left to do: the queue is
// empty and the engine saw no call over several consecutive polls.
func (h *harness) settle() {
	h.t.Helper()
	quiet, last := 0, ""
	eventually(h.t, 10*time.Second, "controller to settle", func() (bool, string) {
		calls := fmt.Sprint(h.rt.Calls())
		if h.ctrl.workqueue.Len() == 0 && calls == last {
			quiet++
		} else {
			quiet = 0
		}
		last = calls
		return quiet >= 10, fmt.Sprintf("queue %d", h.ctrl.workqueue.Len())
	})
}

func TestRegression_FastJobUnderNever_RunsOnce(t *testing.T) {
	for _, code := range []int{0, 3} {
		t.Run(fmt.Sprintf("exit %d", code), func(t *testing.T) {
			rt := &fastExit{Runtime: fake.New(fake.WithImages(testImage)), code: code}
			st := openStore(t)
			h := startOver(t, st, st, rt, rt.Runtime)
			h.put("job", func(t *v1.Task) { t.Spec.RestartPolicy = v1.RestartNever })
			want := v1.Completed
			if code != 0 {
				want = v1.Failed
			}
			h.waitState("job", want)
			h.settle()
			if n := rt.starts.Load(); n != 1 {
				t.Fatalf("restartPolicy Never: container started %d times, want 1", n)
			}
		})
	}
}

func TestRegression_StatusWriteFailsAfterRestart_RestartStillCounted(t *testing.T) {
	st := openStore(t)
	flaky := &failStatusWrite{Bolt: st}
	rt := fake.New(fake.WithImages(testImage))
	h := startOver(t, flaky, st, rt, rt)
	h.put("svc", nil)
	task := h.waitState("svc", v1.Running)
	h.settle()
	flaky.countdown.Store(2) // 1: CrashLoopBackOff, 2: the write after the restart
	if err := rt.Exit(task.Status.ContainerID, 1, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "restart counted", func() (bool, string) {
		got := h.get("svc")
		return got.Status.RestartCount == 1 && got.Status.State == v1.Running && got.Status.Reason == "",
			fmt.Sprintf("restartCount %d reason %q", got.Status.RestartCount, got.Status.Reason)
	})
	h.settle()
	if got := h.get("svc").Status.RestartCount; got != 1 {
		t.Fatalf("restartCount = %d, want 1", got)
	}
}

func TestRegression_RestartGenerationBump_CreateFailsOnce_CountsOneRestart(t *testing.T) {
	rt := &failCreateOnce{Runtime: fake.New(fake.WithImages(testImage))}
	st := openStore(t)
	h := startOver(t, st, st, rt, rt.Runtime)
	h.put("svc", nil)
	task := h.waitState("svc", v1.Running)
	old := task.Status.ContainerID
	rt.armed.Store(true)
	h.update("svc", func(t *v1.Task) { t.Spec.RestartGeneration = 1 })
	eventually(t, 10*time.Second, "new container running", func() (bool, string) {
		got := h.get("svc")
		return got.Status.State == v1.Running && got.Status.ContainerID != old && got.Status.ContainerID != "" &&
			got.Status.ObservedGeneration == got.Generation, string(got.Status.State)
	})
	h.settle()
	if got := h.get("svc").Status.RestartCount; got != 1 {
		t.Fatalf("restartCount = %d after one requested restart, want 1", got)
	}
}

func TestRegression_InspectErrorAfterDie_RelistsInsteadOfLosingTheExit(t *testing.T) {
	rt := &failInspect{Runtime: fake.New(fake.WithImages(testImage))}
	st := openStore(t)
	h := startOver(t, st, st, rt, rt.Runtime)
	h.put("job", func(t *v1.Task) { t.Spec.RestartPolicy = v1.RestartNever })
	task := h.waitState("job", v1.Running)
	h.settle()
	rt.failures.Store(1)
	if err := rt.Exit(task.Status.ContainerID, 3, false); err != nil {
		t.Fatal(err)
	}
	// --resync is an hour: only the relist after the failed inspect can
	// bring the exit in time.
	h.waitState("job", v1.Failed)
}

func TestRegression_SpecChangeBeforeCacheSeesCreate_NeverTwoRunning(t *testing.T) {
	rt := fake.New(fake.WithImages(testImage))
	rt.SetLatency(fake.MethodInspectContainer, 300*time.Millisecond)
	st := openStore(t)
	h := startOver(t, st, st, rt, rt)
	h.changeSpecRightAfterCreate(10 * time.Second)
}

// changeSpecRightAfterCreate PUTs task web, changes its spec as soon as its
// first container exists, and fails if two containers of it ever run at
// once before the replacement runs alone.
func (h *harness) changeSpecRightAfterCreate(timeout time.Duration) {
	h.t.Helper()
	h.put("web", nil)
	eventually(h.t, 10*time.Second, "first container created", func() (bool, string) {
		return len(h.containersOf("web")) > 0, ""
	})
	changed := h.update("web", func(t *v1.Task) { t.Spec.Env = append(t.Spec.Env, v1.EnvVar{Name: "X", Value: "1"}) })
	maxRunning := 0
	eventually(h.t, timeout, "replacement alone", func() (bool, string) {
		running := 0
		cs := h.containersOf("web")
		for _, c := range cs {
			if c.Running() {
				running++
			}
		}
		maxRunning = max(maxRunning, running)
		got := h.get("web")
		return running == 1 && got.Status.ObservedGeneration == changed.Generation && got.Status.State == v1.Running,
			fmt.Sprintf("%d containers, %d running, state %s", len(cs), running, got.Status.State)
	})
	if maxRunning > 1 {
		h.t.Fatalf("%d containers of one task ran at once", maxRunning)
	}
}

// slowEvents delays what the container watch learns of each event (its
// inspect), so the container cache lags behind cubelet's own actions for
// longer than the expectations wait.
type slowEvents struct {
	*fake.Runtime
	delay atomic.Int64
}

func (s *slowEvents) InspectContainer(ctx context.Context, id string) (runtime.Container, error) {
	if d := time.Duration(s.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return runtime.Container{}, ctx.Err()
		}
	}
	return s.Runtime.InspectContainer(ctx, id)
}

// Before expectations, a cache lagging past the 10 s cacheLagLimit plus a
// spec change ran two containers at once. Now an expired expectation reads
// the engine instead of trusting the cache.
func TestRegression_CacheLagPastTheExpectationTimeout_NeverTwoRunning(t *testing.T) {
	rt := &slowEvents{Runtime: fake.New(fake.WithImages(testImage))}
	st := openStore(t)
	h, stop := startOverStoppable(t, st, st, rt, rt.Runtime, func(o *Options) { o.ExpectationTimeout = 100 * time.Millisecond })
	t.Cleanup(stop)
	rt.delay.Store(int64(time.Second))
	h.changeSpecRightAfterCreate(20 * time.Second)
}

// A Never job whose status write keeps failing is still started once: the
// container's run label, not the status, says the run happened.
func TestRegression_NeverJob_StatusWriteFails_StartedOnceAcrossControllerRestarts(t *testing.T) {
	st := openStore(t)
	flaky := &failStatusWrite{Bolt: st}
	rt := &fastExit{Runtime: fake.New(fake.WithImages(testImage))}
	flaky.countdown.Store(1) // the status write after the create fails
	h, stop := startOverStoppable(t, flaky, st, rt, rt.Runtime, nil)
	h.put("job", func(t *v1.Task) { t.Spec.RestartPolicy = v1.RestartNever })
	eventually(t, 10*time.Second, "job started", func() (bool, string) { return rt.starts.Load() > 0, "" })
	stop() // a crash: whatever was in memory is gone
	h2, stop2 := startOverStoppable(t, st, st, rt, rt.Runtime, nil)
	t.Cleanup(stop2)
	h2.waitState("job", v1.Completed)
	h2.settle()
	if n := rt.starts.Load(); n != 1 {
		t.Fatalf("restartPolicy Never: started %d times across a controller restart, want 1", n)
	}
}

// Restarts made just before a crash are counted from the attempt labels,
// so restartCount = starts - 1 however the controller is stopped.
func TestRegression_RestartCount_ExactAcrossControllerRestarts(t *testing.T) {
	st := openStore(t)
	rt := fake.New(fake.WithImages(testImage))
	var h *harness
	stop := func() {}
	for round := 0; round < 4; round++ {
		stop()
		h, stop = startOverStoppable(t, st, st, rt, rt, nil)
		if round == 0 {
			h.put("svc", nil)
		}
		task := h.waitState("svc", v1.Running)
		eventually(t, 10*time.Second, "container running", func() (bool, string) {
			cs := h.containersOf("svc")
			for _, c := range cs {
				if c.ID == h.get("svc").Status.ContainerID && c.Running() {
					return true, ""
				}
			}
			return false, task.Status.ContainerID
		})
		if err := rt.Exit(h.get("svc").Status.ContainerID, 1, false); err != nil {
			t.Fatal(err)
		}
		// Stop as soon as the next attempt exists, before its status lands.
		eventually(t, 10*time.Second, "next attempt", func() (bool, string) {
			return rt.CallCount(fake.MethodStartContainer) >= round+2, ""
		})
	}
	stop()
	h, stop = startOverStoppable(t, st, st, rt, rt, nil)
	t.Cleanup(stop)
	h.settle()
	starts := rt.CallCount(fake.MethodStartContainer)
	if got := h.get("svc").Status.RestartCount; int(got) != starts-1 {
		t.Fatalf("restartCount = %d, Docker starts = %d: want starts-1", got, starts)
	}
}

// A container of another instance, even with the same task name and
// cubelet's other labels, is never stopped, removed or adopted.
func TestRegression_ForeignInstanceContainer_IsNeverTouched(t *testing.T) {
	rt := fake.New(fake.WithImages(testImage))
	foreign, err := rt.CreateContainer(context.Background(), runtime.ContainerSpec{
		Name: "cubelet-node-b-web-x-1.0", Image: testImage,
		Labels: map[string]string{LabelManaged: "true", LabelInstance: "node-b", LabelTask: "web", LabelTaskUID: "x",
			LabelGeneration: "1", LabelAttempt: "0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.StartContainer(context.Background(), foreign); err != nil {
		t.Fatal(err)
	}
	noInstance, err := rt.CreateContainer(context.Background(), runtime.ContainerSpec{
		Name: "built-from-labelled-image", Image: testImage, Labels: map[string]string{LabelManaged: "true", LabelTask: "web"},
	})
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	h := startOver(t, st, st, rt, rt)
	h.put("web", nil)
	h.waitState("web", v1.Running)
	if _, err := h.store.Delete(context.Background(), "web", ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "task gone", func() (bool, string) {
		_, err := h.store.Get(context.Background(), "web")
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	h.settle()
	for _, id := range []string{foreign, noInstance} {
		c, err := rt.InspectContainer(context.Background(), id)
		if err != nil {
			t.Fatalf("foreign container %s was removed: %v", id, err)
		}
		if id == foreign && !c.Running() {
			t.Fatalf("foreign container %s was stopped", id)
		}
	}
}

// Run used to return with the delaying queue's goroutines still running
// (ShutDownWithDrain does not stop them).
func TestRegression_Run_LeavesNoQueueGoroutines(t *testing.T) {
	rt := fake.New(fake.WithImages(testImage))
	st := openStore(t)
	before := goruntime.NumGoroutine()
	for i := 0; i < 5; i++ {
		h, stop := startOverStoppable(t, st, st, rt, rt, nil)
		_ = h
		stop()
	}
	eventually(t, 5*time.Second, "goroutines to end", func() (bool, string) {
		n := goruntime.NumGoroutine()
		// Five leaked queues would leave at least five goroutines.
		return n < before+3, fmt.Sprintf("%d goroutines, %d before", n, before)
	})
}
