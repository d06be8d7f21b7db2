package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cubelet/cubelet/runtime"
	"github.com/cubelet/cubelet/runtime/fake"
)

// Tests in sample-controller's manner: the caches are filled by hand (no
// informer runs), one sync is driven directly through syncHandler, and the
// engine calls it made are compared.

type syncFixture struct {
	t    *testing.T
	rt   *fake.Runtime
	ctrl *Controller
}

func newSyncFixture(t *testing.T) *syncFixture {
	rt := fake.New(fake.WithImages(testImage))
	st := openStore(t)
	tasks := NewTaskInformer(st, 0)
	containers := NewContainerInformer(rt, testInstance, ContainerInformerOptions{})
	ctrl := New(st, rt, tasks, containers, Options{Now: func() time.Time { return t0 }})
	return &syncFixture{t: t, rt: rt, ctrl: ctrl}
}

func (f *syncFixture) cacheContainer(c runtime.Container) {
	f.t.Helper()
	if err := f.ctrl.containers.Add(newObservedContainer(c, "1", "")); err != nil {
		f.t.Fatal(err)
	}
}

func (f *syncFixture) sync(name string) error {
	f.t.Helper()
	_, err := f.ctrl.syncHandler(context.Background(), name, "test")
	return err
}

func TestSync_TaskGone_RemovesItsContainersOnly(t *testing.T) {
	f := newSyncFixture(t)
	task := newTestTask()
	spec := containerSpec(testInstance, task, 0)
	id, err := f.rt.CreateContainer(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := f.rt.InspectContainer(context.Background(), id)
	f.cacheContainer(c)

	if err := f.sync("web"); err != nil {
		t.Fatal(err)
	}
	calls := f.rt.Calls()
	if calls[fake.MethodRemoveContainer] != 1 || calls[fake.MethodCreateContainer] != 1 || calls[fake.MethodStartContainer] != 0 {
		t.Fatalf("engine calls = %v, want the orphan removed and nothing else made", calls)
	}
	if f.rt.Len() != 0 {
		t.Fatalf("engine holds %d containers, want 0", f.rt.Len())
	}
}

func TestSync_WaitsForTheCacheToShowItsOwnStart(t *testing.T) {
	f := newSyncFixture(t)
	task := newTestTask(fresh())
	if err := f.ctrl.tasks.Add(task); err != nil {
		t.Fatal(err)
	}
	// The first sync creates and starts the container; the cache (filled by
	// hand) never shows it, so the next sync must wait rather than decide
	// from a world without it.
	_ = f.sync("web")
	if got := f.rt.CallCount(fake.MethodCreateContainer); got != 1 {
		t.Fatalf("creates = %d, want 1", got)
	}
	res, err := f.ctrl.syncHandler(context.Background(), "web", "test")
	if err != nil {
		t.Fatal(err)
	}
	if !res.waited || res.requeueAfter <= 0 {
		t.Fatalf("second sync = %+v, want a wait for the cache", res)
	}
	if got := f.rt.CallCount(fake.MethodCreateContainer); got != 1 {
		t.Fatalf("creates = %d after a sync with a lagging cache, want still 1", got)
	}
}

// The guard against touching what is not ours: a container holding the
// attempt's name without this instance's identity labels is refused, never
// stopped, removed or adopted.
func TestSync_NameTakenByAForeignContainer_IsLeftAlone(t *testing.T) {
	f := newSyncFixture(t)
	task := newTestTask(fresh())
	if err := f.ctrl.tasks.Add(task); err != nil {
		t.Fatal(err)
	}
	name := containerName(testInstance, task, 0)
	squatter, err := f.rt.CreateContainer(context.Background(), runtime.ContainerSpec{Name: name, Image: testImage,
		Labels: map[string]string{LabelManaged: "true", LabelTask: "web"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.rt.StartContainer(context.Background(), squatter); err != nil {
		t.Fatal(err)
	}
	before := f.rt.Calls()
	err = f.sync("web")
	if err == nil || !strings.Contains(err.Error(), "does not own") {
		t.Fatalf("sync error = %v, want the name refused as not ours", err)
	}
	after := f.rt.Calls()
	for _, m := range []string{fake.MethodStopContainer, fake.MethodRemoveContainer, fake.MethodStartContainer} {
		if after[m] != before[m] {
			t.Errorf("%s called on a container that is not ours", m)
		}
	}
	c, err := f.rt.InspectContainer(context.Background(), squatter)
	if err != nil || !c.Running() {
		t.Fatalf("the squatter was touched: %+v, %v", c, err)
	}
}
