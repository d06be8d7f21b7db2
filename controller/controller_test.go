package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
	"github.com/cubelet/cubelet/runtime/fake"
	"github.com/cubelet/cubelet/store"
)

const testImage = "cubelet-workload:latest"

// harness runs a real controller over a real bbolt store and the fake
// engine.
type harness struct {
	t     *testing.T
	store *store.Bolt
	rt    *fake.Runtime
	ctrl  *Controller
}

func startHarness(t *testing.T, rt *fake.Runtime, workers int, tweak func(*Options)) *harness {
	t.Helper()
	st, err := store.OpenDir(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	opts := Options{
		Backoff: BackoffPolicy{Base: 50 * time.Millisecond, Max: time.Second, Reset: time.Minute},
		Logger:  slog.New(slog.DiscardHandler),
	}
	if tweak != nil {
		tweak(&opts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ctrl, stopInformers := newTestController(ctx, st, rt, time.Hour, opts)
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx, workers) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller Run: %v", err)
		}
		stopInformers()
		st.Close()
	})
	select {
	case <-ctrl.Synced():
	case <-time.After(10 * time.Second):
		t.Fatal("caches did not sync")
	}
	return &harness{t: t, store: st, rt: rt, ctrl: ctrl}
}

// newTestController builds the informers of testInstance, starts them as
// serve does, and returns the controller over them and how to stop them.
func newTestController(ctx context.Context, st TaskStore, rt Runtime, resync time.Duration, opts Options) (*Controller, func()) {
	tasks := NewTaskInformer(st, resync)
	containers := NewContainerInformer(rt, testInstance, ContainerInformerOptions{Resync: resync, Logger: opts.Logger})
	ctrl := New(st, rt, tasks, containers, opts)
	informerCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); tasks.RunWithContext(informerCtx) }()
	go func() { defer wg.Done(); containers.RunWithContext(informerCtx) }()
	return ctrl, func() { stop(); wg.Wait() }
}

func (h *harness) put(name string, mutate func(*v1.Task)) *v1.Task {
	h.t.Helper()
	task := &v1.Task{ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: []string{v1.FinalizerContainers}},
		Spec: v1.TaskSpec{Image: testImage}}
	if mutate != nil {
		mutate(task)
	}
	v1.SetDefaults(task)
	if errs := v1.ValidateTask(task); len(errs) > 0 {
		h.t.Fatalf("invalid test task: %v", errs.ToAggregate())
	}
	task.Status.State = v1.Pending
	created, err := h.store.Create(context.Background(), task)
	if err != nil {
		h.t.Fatalf("create task %s: %v", name, err)
	}
	return created
}

// update changes the stored spec with a fresh read each try: the
// controller writes status concurrently, so a resourceVersion read earlier
// may be stale by the time of the write.
func (h *harness) update(name string, mutate func(*v1.Task)) *v1.Task {
	h.t.Helper()
	var updated *v1.Task
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		task, err := h.store.Get(context.Background(), name)
		if err != nil {
			return err
		}
		mutate(task)
		updated, err = h.store.Update(context.Background(), task)
		return err
	})
	if err != nil {
		h.t.Fatalf("update task %s: %v", name, err)
	}
	return updated
}

func (h *harness) get(name string) *v1.Task {
	h.t.Helper()
	task, err := h.store.Get(context.Background(), name)
	if err != nil {
		h.t.Fatalf("get task %s: %v", name, err)
	}
	return task
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, last)
}

func (h *harness) waitState(name string, want v1.State) *v1.Task {
	h.t.Helper()
	var task *v1.Task
	eventually(h.t, 10*time.Second, fmt.Sprintf("%s to be %s", name, want), func() (bool, string) {
		t, err := h.store.Get(context.Background(), name)
		if err != nil {
			return false, err.Error()
		}
		task = t
		return t.Status.State == want && t.Status.ObservedGeneration == t.Generation,
			fmt.Sprintf("state %s reason %s message %q gen %d/%d", t.Status.State, t.Status.Reason, t.Status.Message, t.Status.ObservedGeneration, t.Generation)
	})
	return task
}

func (h *harness) containersOf(name string) []runtime.Container {
	cs, err := h.rt.ListContainers(context.Background(), LabelTask, name)
	if err != nil {
		h.t.Fatalf("list containers: %v", err)
	}
	return cs
}

func TestController_PutTask_RunsOneLabelledContainer(t *testing.T) {
	h := startHarness(t, fake.New(fake.WithImages(testImage)), 2, nil)
	created := h.put("web", nil)
	task := h.waitState("web", v1.Running)

	cs := h.containersOf("web")
	if len(cs) != 1 {
		t.Fatalf("containers = %d, want 1", len(cs))
	}
	c := cs[0]
	for k, want := range map[string]string{LabelManaged: "true", LabelInstance: testInstance, LabelTask: "web", LabelTaskUID: string(created.UID),
		LabelSpecHash: specHash(&created.Spec), LabelGeneration: "1", LabelAttempt: "0"} {
		if c.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], want)
		}
	}
	if task.Status.ContainerID != c.ID || task.Generation != task.Status.ObservedGeneration {
		t.Errorf("status = %+v, want containerID %s at generation %d", task.Status, c.ID, task.Generation)
	}
}

func TestController_ManyTasksManyWorkers_ExactlyOneContainerEach(t *testing.T) {
	rt := fake.New(fake.WithImages(testImage))
	// A slow inspect makes the container cache lag behind cubelet's own
	// creates, so re-syncs meet their container by name: adopt, never a
	// second create.
	rt.SetLatency(fake.MethodInspectContainer, 20*time.Millisecond)
	h := startHarness(t, rt, 8, nil)
	const n = 60
	for i := 0; i < n; i++ {
		h.put(fmt.Sprintf("task-%d", i), nil)
	}
	for i := 0; i < n; i++ {
		h.waitState(fmt.Sprintf("task-%d", i), v1.Running)
	}
	if got := rt.Len(); got != n {
		t.Fatalf("engine holds %d containers, want %d", got, n)
	}
	if creates := rt.CallCount(fake.MethodCreateContainer); creates < n {
		t.Fatalf("creates = %d, want at least %d", creates, n)
	}
}

func TestController_ExitUnderNever_FailsWithExitCode(t *testing.T) {
	h := startHarness(t, fake.New(fake.WithImages(testImage)), 2, nil)
	h.put("job", func(t *v1.Task) { t.Spec.RestartPolicy = v1.RestartNever })
	task := h.waitState("job", v1.Running)
	if err := h.rt.Exit(task.Status.ContainerID, 3, false); err != nil {
		t.Fatal(err)
	}
	task = h.waitState("job", v1.Failed)
	if task.Status.ExitCode == nil || *task.Status.ExitCode != 3 || task.Status.FinishTime == nil {
		t.Fatalf("status = %+v, want exit code 3 and a finish time", task.Status)
	}
}

func TestController_CrashUnderAlways_RestartsAndCounts(t *testing.T) {
	h := startHarness(t, fake.New(fake.WithImages(testImage)), 2, nil)
	h.put("svc", nil)
	task := h.waitState("svc", v1.Running)
	for i := 1; i <= 3; i++ {
		if err := h.rt.Exit(task.Status.ContainerID, 1, false); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "restart", func() (bool, string) {
			task = h.get("svc")
			cs := h.containersOf("svc")
			// Each restart is a new container (the next attempt); the
			// one before it stays stopped for logs --previous.
			running := 0
			for _, c := range cs {
				if c.Running() && c.ID == task.Status.ContainerID {
					running++
				}
			}
			return task.Status.RestartCount == int32(i) && len(cs) == 2 && running == 1 && task.Status.PreviousContainerID != "",
				fmt.Sprintf("restartCount %d reason %s containers %d running %d", task.Status.RestartCount, task.Status.Reason, len(cs), running)
		})
	}
}

func TestController_DesiredCompleted_StopsAndKeepsStopped(t *testing.T) {
	h := startHarness(t, fake.New(fake.WithImages(testImage)), 2, nil)
	h.put("web", nil)
	h.waitState("web", v1.Running)
	h.update("web", func(t *v1.Task) { t.Spec.DesiredState = v1.Completed })
	h.waitState("web", v1.Completed)
	cs := h.containersOf("web")
	if len(cs) != 1 || cs[0].Running() {
		t.Fatalf("containers = %+v, want one stopped", cs)
	}
}

func TestController_Delete_RemovesContainersThenObject(t *testing.T) {
	h := startHarness(t, fake.New(fake.WithImages(testImage)), 2, nil)
	h.put("web", nil)
	h.waitState("web", v1.Running)
	if _, err := h.store.Delete(context.Background(), "web", ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "task gone", func() (bool, string) {
		_, err := h.store.Get(context.Background(), "web")
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	if cs := h.containersOf("web"); len(cs) != 0 {
		t.Fatalf("containers left: %d", len(cs))
	}
}

func TestController_UnmanagedContainer_IsNeverTouched(t *testing.T) {
	rt := fake.New(fake.WithImages(testImage))
	id, err := rt.CreateContainer(context.Background(), runtime.ContainerSpec{
		Name: "intruder", Image: testImage, Labels: map[string]string{LabelTask: "web", LabelTaskUID: "x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Running, so that a stop or a remove of it would show.
	if err := rt.StartContainer(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	h := startHarness(t, rt, 2, nil)
	h.put("web", nil)
	h.waitState("web", v1.Running)
	if _, err := h.store.Delete(context.Background(), "web", ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "task gone", func() (bool, string) {
		_, err := h.store.Get(context.Background(), "web")
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	// The managed container's stop may be planned twice when a sync reads
	// a container cache that has not yet seen the first one (idempotent):
	// what matters is that the unmanaged one still runs.
	c, err := rt.InspectContainer(context.Background(), id)
	if err != nil || !c.Running() {
		t.Fatalf("unmanaged container was touched: %+v, %v", c, err)
	}
	if rt.CallCount(fake.MethodStopContainer) < 1 {
		t.Fatal("the managed container was never stopped")
	}
}

func TestController_FailedPull_ReportsErrImagePullThenBackOff(t *testing.T) {
	rt := fake.New()
	rt.FailPull("missing:1", errors.New("manifest unknown"))
	h := startHarness(t, rt, 2, func(o *Options) { o.RetryBase = 20 * time.Millisecond; o.RetryMax = 100 * time.Millisecond })
	h.put("bad", func(t *v1.Task) { t.Spec.Image = "missing:1" })
	seen := map[string]bool{}
	eventually(t, 10*time.Second, "ImagePullBackOff", func() (bool, string) {
		task := h.get("bad")
		seen[task.Status.Reason] = true
		return task.Status.Reason == ReasonImagePullBackOff, task.Status.Reason
	})
	task := h.get("bad")
	if task.Status.State != v1.Scheduled {
		t.Errorf("state = %s, want Scheduled", task.Status.State)
	}
	rt.FailPull("missing:1", nil)
	h.waitState("bad", v1.Running)
}

func TestController_PullPolicyNever_ReportsErrImageNeverPull(t *testing.T) {
	h := startHarness(t, fake.New(), 1, nil)
	h.put("never", func(t *v1.Task) { t.Spec.ImagePullPolicy = v1.PullNever })
	eventually(t, 10*time.Second, "ErrImageNeverPull", func() (bool, string) {
		task := h.get("never")
		return task.Status.Reason == ReasonErrImageNeverPull, task.Status.Reason
	})
	if pulls := h.rt.Pulls(testImage); pulls != 0 {
		t.Fatalf("pulls = %d, want 0 under Never", pulls)
	}
}

func TestController_ManyTasksOneImage_PullOnce(t *testing.T) {
	rt := fake.New()
	rt.SetLatency(fake.MethodPullImage, 200*time.Millisecond)
	h := startHarness(t, rt, 8, nil)
	for i := 0; i < 8; i++ {
		h.put(fmt.Sprintf("p-%d", i), nil)
	}
	for i := 0; i < 8; i++ {
		h.waitState(fmt.Sprintf("p-%d", i), v1.Running)
	}
	if pulls := rt.Pulls(testImage); pulls != 1 {
		t.Fatalf("pulls = %d, want 1", pulls)
	}
}

func TestController_OrphanContainer_IsRemoved(t *testing.T) {
	rt := fake.New(fake.WithImages(testImage))
	_, err := rt.CreateContainer(context.Background(), runtime.ContainerSpec{
		Name: "cubelet-gone-abc", Image: testImage,
		Labels: map[string]string{LabelManaged: "true", LabelInstance: testInstance, LabelTask: "gone", LabelTaskUID: "u", LabelSpecHash: "abc"},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := startHarness(t, rt, 1, nil)
	eventually(t, 10*time.Second, "orphan removed", func() (bool, string) {
		n := len(h.containersOf("gone"))
		return n == 0, fmt.Sprintf("%d left", n)
	})
}

func TestController_Shutdown_DrainsAndLeavesContainersRunning(t *testing.T) {
	rt := fake.New(fake.WithImages(testImage))
	st, err := store.OpenDir(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ctrl, stopInformers := newTestController(ctx, st, rt, time.Hour, Options{})
	defer stopInformers()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = ctrl.Run(ctx, 2) }()
	h := &harness{t: t, store: st, rt: rt, ctrl: ctrl}
	h.put("web", nil)
	h.waitState("web", v1.Running)
	cancel()
	wg.Wait()
	cs := h.containersOf("web")
	if len(cs) != 1 || !cs[0].Running() {
		t.Fatalf("after shutdown containers = %+v, want one running", cs)
	}
}

func TestController_EventStreamCut_ResubscribesAndRepairsWhatWasMissed(t *testing.T) {
	rt := fake.New(fake.WithImages(testImage))
	h := startHarness(t, rt, 2, nil) // resync 1h: only the relist can notice
	h.put("web", nil)
	first := h.waitState("web", v1.Running)

	// A slow relist makes the removal likely to land while no subscription
	// exists, so only the relist can tell; landing after the resubscription
	// it arrives as an event. Either way it must be repaired.
	rt.SetLatency(fake.MethodListContainers, 200*time.Millisecond)
	rt.CutEvents(errors.New("connection reset by peer"))
	if err := rt.RemoveContainer(context.Background(), first.Status.ContainerID); err != nil {
		t.Fatal(err)
	}
	rt.SetLatency(fake.MethodListContainers, 0)
	eventually(t, 10*time.Second, "container recreated", func() (bool, string) {
		task := h.get("web")
		cs := h.containersOf("web")
		return len(cs) == 1 && cs[0].Running() && cs[0].ID != first.Status.ContainerID && task.Status.ContainerID == cs[0].ID,
			fmt.Sprintf("%d containers, status %s", len(cs), task.Status.ContainerID)
	})
	if subs := rt.CallCount(fake.MethodEvents); subs < 2 {
		t.Fatalf("event subscriptions = %d, want a resubscription", subs)
	}
}
