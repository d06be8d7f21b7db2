package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

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
	ctrl := New(st, rt, Options{Backoff: BackoffPolicy{Base: 50 * time.Millisecond, Max: time.Second, Reset: time.Minute},
		Logger: slog.New(slog.DiscardHandler), Resync: time.Hour, RetryBase: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx, 1) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-ctrl.Synced():
	case <-time.After(10 * time.Second):
		t.Fatal("caches did not sync")
	}
	return &harness{t: t, store: bolt, rt: engine, ctrl: ctrl}
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
	task.Spec.RestartGeneration = 1
	if _, err := h.store.Update(context.Background(), task); err != nil {
		t.Fatal(err)
	}
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
	h.put("web", nil)
	eventually(t, 10*time.Second, "first container created", func() (bool, string) {
		return len(h.containersOf("web")) > 0, ""
	})
	task := h.get("web")
	task.Spec.Env = append(task.Spec.Env, v1.EnvVar{Name: "X", Value: "1"})
	changed, err := h.store.Update(context.Background(), task)
	if err != nil {
		t.Fatal(err)
	}
	maxRunning := 0
	eventually(t, 10*time.Second, "replacement alone", func() (bool, string) {
		running := 0
		cs := h.containersOf("web")
		for _, c := range cs {
			if c.Running() {
				running++
			}
		}
		maxRunning = max(maxRunning, running)
		got := h.get("web")
		return len(cs) == 1 && got.Status.ObservedGeneration == changed.Generation && got.Status.State == v1.Running,
			fmt.Sprintf("%d containers", len(cs))
	})
	if maxRunning > 1 {
		t.Fatalf("%d containers of one task ran at once", maxRunning)
	}
}

func TestRegression_CreatedContainerInFinishedRun_IsNotStarted(t *testing.T) {
	task := newTestTask(state(v1.Completed), policy(v1.RestartNever))
	c := ctr(task, runtime.StateCreated)
	p := decide(observation{task: task, containers: []runtime.Container{c}, now: t0, backoff: testPolicy(), jitter: func() float64 { return 0 }})
	if len(p.actions) != 0 || p.status.State != v1.Completed || p.status.Message != "" {
		t.Fatalf("actions %v state %s message %q, want nothing done", kinds(p.actions), p.status.State, p.status.Message)
	}
}

// lostOOMFlag reports containers as Docker 20.10 may after an OOM kill:
// exit code 137 but OOMKilled false, with only the "oom" event telling.
type lostOOMFlag struct{ *fake.Runtime }

func (l lostOOMFlag) InspectContainer(ctx context.Context, id string) (runtime.Container, error) {
	c, err := l.Runtime.InspectContainer(ctx, id)
	c.OOMKilled = false
	return c, err
}

func (l lostOOMFlag) ListContainers(ctx context.Context, key, value string) ([]runtime.Container, error) {
	cs, err := l.Runtime.ListContainers(ctx, key, value)
	for i := range cs {
		cs[i].OOMKilled = false
	}
	return cs, err
}

func TestRegression_OOMEventWithoutFlag_ReportsOOMKilled(t *testing.T) {
	engine := fake.New(fake.WithImages(testImage))
	st := openStore(t)
	h := startOver(t, st, st, lostOOMFlag{engine}, engine)
	h.put("hog", func(t *v1.Task) { t.Spec.RestartPolicy = v1.RestartNever })
	task := h.waitState("hog", v1.Running)
	if err := engine.Exit(task.Status.ContainerID, 137, true); err != nil {
		t.Fatal(err)
	}
	got := h.waitState("hog", v1.Failed)
	if got.Status.Reason != ReasonOOMKilled {
		t.Fatalf("reason = %q, want OOMKilled from the oom event", got.Status.Reason)
	}
}
