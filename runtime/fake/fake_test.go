package fake_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/runtime"
	"github.com/cubelet/cubelet/runtime/fake"
)

// The fake must keep implementing the interface the controller consumes.
var _ controller.Runtime = (*fake.Runtime)(nil)

const img = "cubelet-workload:latest"

func spec(name string) runtime.ContainerSpec {
	return runtime.ContainerSpec{Name: name, Image: img, Labels: map[string]string{"managed": "yes", "task": name}}
}

func fixedClock() func() time.Time {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	n := 0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		n++
		return t0.Add(time.Duration(n) * time.Second)
	}
}

func TestLifecycle_CreateStartExitRemove(t *testing.T) {
	ctx := context.Background()
	r := fake.New(fake.WithImages(img), fake.WithNow(fixedClock()))

	id, err := r.CreateContainer(ctx, spec("a"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.InspectContainer(ctx, "a")
	if err != nil || c.ID != id || c.State != runtime.StateCreated || c.CreatedAt.IsZero() || !c.StartedAt.IsZero() {
		t.Fatalf("after create: %+v, %v", c, err)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatalf("starting a running container: %v", err)
	}
	if err := r.Exit(id, 137, true); err != nil {
		t.Fatal(err)
	}
	c, _ = r.InspectContainer(ctx, id)
	if c.State != runtime.StateExited || c.ExitCode != 137 || !c.OOMKilled || c.FinishedAt.Before(c.StartedAt) || c.Running() {
		t.Fatalf("after exit: %+v", c)
	}
	if err := r.StopContainer(ctx, id, time.Second); err != nil {
		t.Fatalf("stopping an exited container: %v", err)
	}
	if err := r.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveContainer(ctx, id); err != nil {
		t.Fatalf("removing a missing container: %v", err)
	}
	if _, err := r.InspectContainer(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("inspect after remove: %v", err)
	}
	if err := r.StopContainer(ctx, id, 0); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("stop after remove: %v", err)
	}
	if _, err := r.CreateContainer(ctx, spec("a")); err != nil {
		t.Fatalf("the name is free again after remove: %v", err)
	}
}

func TestCreateContainer_Errors(t *testing.T) {
	ctx := context.Background()
	r := fake.New(fake.WithImages(img))
	if _, err := r.CreateContainer(ctx, spec("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CreateContainer(ctx, spec("a")); !errors.Is(err, runtime.ErrNameConflict) {
		t.Errorf("same name: %v, want ErrNameConflict", err)
	}
	s := spec("b")
	s.Image = "missing:1"
	if _, err := r.CreateContainer(ctx, s); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("missing image: %v, want ErrNotFound", err)
	}
	if got := r.CallCount(fake.MethodCreateContainer); got != 3 {
		t.Errorf("CreateContainer calls = %d, want 3", got)
	}
}

func TestCreateContainer_ConcurrentSameName_ExactlyOneWins(t *testing.T) {
	ctx := context.Background()
	r := fake.New(fake.WithImages(img))
	const n = 64
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = r.CreateContainer(ctx, spec("same")) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, runtime.ErrNameConflict):
			t.Fatalf("unexpected error %v", err)
		}
	}
	if won != 1 || r.Len() != 1 {
		t.Fatalf("%d creates won, %d containers; want 1 and 1", won, r.Len())
	}
}

func TestConcurrentUse_IsRaceFree(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := fake.New(fake.WithImages(img))
	events, _ := r.Events(ctx, "managed", "yes")
	go func() {
		for range events {
		}
	}()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				name := fmt.Sprintf("w%d-%d", w, i)
				id, err := r.CreateContainer(ctx, spec(name))
				if err != nil {
					t.Error(err)
					return
				}
				_ = r.StartContainer(ctx, id)
				_, _ = r.ListContainers(ctx, "task", name)
				_ = r.Exit(id, 1, false)
				_ = r.StopContainer(ctx, id, 0)
				if i%2 == 0 {
					_ = r.RemoveContainer(ctx, id)
				}
			}
		})
	}
	wg.Wait()
	if got := r.Len(); got != 8*100 {
		t.Fatalf("%d containers left, want %d", got, 8*100)
	}
}

func TestListContainers_FiltersByLabel_NewestFirst_ReturnsCopies(t *testing.T) {
	ctx := context.Background()
	r := fake.New(fake.WithImages(img))
	for _, name := range []string{"a", "b", "c"} {
		if _, err := r.CreateContainer(ctx, spec(name)); err != nil {
			t.Fatal(err)
		}
	}
	other := spec("other")
	other.Labels = map[string]string{"managed": "no"}
	if _, err := r.CreateContainer(ctx, other); err != nil {
		t.Fatal(err)
	}

	list, err := r.ListContainers(ctx, "managed", "yes")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range list {
		names = append(names, c.Name)
	}
	if fmt.Sprint(names) != "[c b a]" {
		t.Fatalf("names %v, want [c b a]", names)
	}
	list[0].Labels["managed"] = "tampered"
	if again, _ := r.ListContainers(ctx, "managed", "yes"); len(again) != 3 {
		t.Fatal("mutating a listed container changed the engine")
	}
	if all, _ := r.ListContainers(ctx, "", ""); len(all) != 4 {
		t.Fatalf("unfiltered list has %d containers, want 4", len(all))
	}
}

func TestEvents_DeliversLifecycleInOrder_ForMatchingLabelsOnly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := fake.New(fake.WithImages(img))
	events, errs := r.Events(ctx, "task", "a")

	id, _ := r.CreateContainer(ctx, spec("a"))
	if _, err := r.CreateContainer(ctx, spec("b")); err != nil { // not ours
		t.Fatal(err)
	}
	_ = r.StartContainer(ctx, id)
	_ = r.Rename(id, "a2")
	_ = r.StopContainer(ctx, id, time.Second)
	_ = r.RemoveContainer(ctx, id)
	cancel()

	var got []runtime.EventAction
	for ev := range events {
		if ev.ContainerID != id || ev.Labels["task"] != "a" {
			t.Fatalf("foreign event %+v", ev)
		}
		got = append(got, ev.Action)
	}
	want := "[create start rename kill die stop destroy]"
	if fmt.Sprint(got) != want {
		t.Fatalf("events %v, want %s", got, want)
	}
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("stream ended with %v, want context.Canceled", err)
	}
	if _, open := <-errs; open {
		t.Fatal("error channel still open after its one error")
	}
}

func TestEvents_SlowSubscriber_GetsOverflowNotABlockedEngine(t *testing.T) {
	ctx := context.Background()
	r := fake.New(fake.WithImages(img))
	events, errs := r.Events(ctx, "", "")
	for i := range runtime.EventBuffer + 1 {
		if _, err := r.CreateContainer(ctx, spec(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errs; !errors.Is(err, runtime.ErrEventsOverflow) {
		t.Fatalf("got %v, want ErrEventsOverflow", err)
	}
	n := 0
	for range events {
		n++
	}
	if n != runtime.EventBuffer {
		t.Fatalf("%d buffered events delivered, want %d", n, runtime.EventBuffer)
	}
}

func TestExit_EmitsOOMAndDie(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := fake.New(fake.WithImages(img))
	id, _ := r.CreateContainer(ctx, spec("a"))
	_ = r.StartContainer(ctx, id)
	events, _ := r.Events(ctx, "", "")
	if err := r.Exit(id, 137, true); err != nil {
		t.Fatal(err)
	}
	if err := r.Exit(id, 1, false); err == nil {
		t.Fatal("exiting an exited container succeeded")
	}
	cancel()
	var got []runtime.EventAction
	for ev := range events {
		got = append(got, ev.Action)
	}
	if fmt.Sprint(got) != "[oom die]" {
		t.Fatalf("events %v, want [oom die]", got)
	}
}

func TestPorts_ChosenOnStart_ReleasedOnStop_ConflictsRefused(t *testing.T) {
	ctx := context.Background()
	r := fake.New(fake.WithImages(img))
	s := spec("a")
	s.Ports = []runtime.PortBinding{{ContainerPort: 8080}, {ContainerPort: 53, Protocol: "udp", HostPort: 5353}}
	id, _ := r.CreateContainer(ctx, s)
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	c, _ := r.InspectContainer(ctx, id)
	if len(c.Ports) != 2 || c.Ports[0].HostPort == 0 || c.Ports[0].Protocol != "tcp" || c.Ports[1].HostPort != 5353 {
		t.Fatalf("ports %+v", c.Ports)
	}

	s2 := spec("b")
	s2.Ports = []runtime.PortBinding{{ContainerPort: 53, Protocol: "udp", HostPort: 5353}}
	id2, _ := r.CreateContainer(ctx, s2)
	if err := r.StartContainer(ctx, id2); err == nil {
		t.Fatal("two containers hold host port 5353")
	}
	_ = r.StopContainer(ctx, id, 0)
	if c, _ := r.InspectContainer(ctx, id); len(c.Ports) != 0 {
		t.Fatalf("stopped container reports ports %+v", c.Ports)
	}
	if err := r.StartContainer(ctx, id2); err != nil {
		t.Fatalf("port not released on stop: %v", err)
	}
}

func TestImages_PullAndFailPull(t *testing.T) {
	ctx := context.Background()
	r := fake.New()
	n := 0
	present := func() bool {
		n++
		_, err := r.CreateContainer(ctx, runtime.ContainerSpec{Name: fmt.Sprintf("probe-%d", n), Image: img})
		if err != nil && !errors.Is(err, runtime.ErrNotFound) {
			t.Fatalf("create: %v", err)
		}
		return err == nil
	}
	if present() {
		t.Fatal("image present before pull")
	}
	boom := errors.New("manifest unknown")
	r.FailPull(img, boom)
	if err := r.PullImage(ctx, img); !errors.Is(err, boom) {
		t.Fatalf("pull: %v, want %v", err, boom)
	}
	r.FailPull(img, nil)
	if err := r.PullImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	if !present() {
		t.Fatal("image absent after pull")
	}
	if r.Pulls(img) != 2 || r.Calls()[fake.MethodPullImage] != 2 {
		t.Fatalf("pulls %d, calls %v", r.Pulls(img), r.Calls())
	}
	r.SetImage(img, false)
	if present() {
		t.Fatal("image present after SetImage(false)")
	}
}

func TestLatency_DelaysCalls_AndHonoursContext(t *testing.T) {
	r := fake.New(fake.WithImages(img))
	r.SetLatency(fake.MethodCreateContainer, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.CreateContainer(ctx, spec("a")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("create under latency: %v, want DeadlineExceeded", err)
	}
	if r.Len() != 0 {
		t.Fatal("a create that timed out still created a container")
	}
	if _, err := r.ListContainers(context.Background(), "", ""); err != nil {
		t.Fatalf("other methods are not delayed: %v", err)
	}
}

func TestContainerLogs_CannedOutputWithTail(t *testing.T) {
	ctx := context.Background()
	r := fake.New(fake.WithImages(img))
	id, _ := r.CreateContainer(ctx, spec("a"))
	if err := r.SetLogs(id, "one\ntwo\nthree\n"); err != nil {
		t.Fatal(err)
	}
	for tail, want := range map[int]string{-1: "one\ntwo\nthree\n", 2: "two\nthree\n", 0: "", 10: "one\ntwo\nthree\n"} {
		rc, err := r.ContainerLogs(ctx, "a", runtime.LogOptions{Tail: tail})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != want {
			t.Errorf("tail %d: %q, want %q", tail, b, want)
		}
	}
	if _, err := r.ContainerLogs(ctx, "nope", runtime.LogOptions{}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("logs of a missing container: %v", err)
	}
}

func TestDeterministicIDs(t *testing.T) {
	ctx := context.Background()
	a, b := fake.New(fake.WithImages(img)), fake.New(fake.WithImages(img))
	for i := range 3 {
		ida, _ := a.CreateContainer(ctx, spec(fmt.Sprint(i)))
		idb, _ := b.CreateContainer(ctx, spec(fmt.Sprint(i)))
		if ida != idb || len(ida) != 64 {
			t.Fatalf("ids %q and %q", ida, idb)
		}
	}
}

func BenchmarkCreateStartInspect(b *testing.B) {
	ctx := context.Background()
	r := fake.New(fake.WithImages(img))
	for i := 0; b.Loop(); i++ {
		id, err := r.CreateContainer(ctx, spec(fmt.Sprint(i)))
		if err != nil {
			b.Fatal(err)
		}
		_ = r.StartContainer(ctx, id)
		_, _ = r.InspectContainer(ctx, id)
	}
}
