package usage_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
	"github.com/cubelet/cubelet/runtime/fake"
	"github.com/cubelet/cubelet/usage"
)

const img = "workload:test"

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// tasks is a TaskLister whose list the test sets.
type tasks struct {
	mu    sync.Mutex
	items []v1.Task
}

func (l *tasks) List(context.Context, labels.Selector) (*v1.TaskList, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return &v1.TaskList{Items: append([]v1.Task(nil), l.items...)}, nil
}

func (l *tasks) set(ts ...v1.Task) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items = ts
}

func running(name, containerID string) v1.Task {
	t := v1.Task{}
	t.Name = name
	t.Status.State = v1.Running
	t.Status.ContainerID = containerID
	return t
}

func runtimeSpec(name string) runtime.ContainerSpec {
	return runtime.ContainerSpec{Name: name, Image: img}
}

// startContainer runs a container in the fake engine and returns its ID.
func startContainer(t *testing.T, r *fake.Runtime, name string) string {
	t.Helper()
	ctx := context.Background()
	id, err := r.CreateContainer(ctx, runtimeSpec(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	return id
}

func setStats(t *testing.T, r *fake.Runtime, id string, at time.Duration, cpu time.Duration, mem uint64) {
	t.Helper()
	if err := r.SetStats(id, runtime.Stats{Time: t0.Add(at), CPUNanos: uint64(cpu), MemoryBytes: mem}); err != nil {
		t.Fatal(err)
	}
}

func round(t *testing.T, s *usage.Sampler) {
	t.Helper()
	if err := s.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestRound_CPUIsTheRateBetweenTwoReadings(t *testing.T) {
	r := fake.New(fake.WithImages(img))
	id := startContainer(t, r, "web")
	l := &tasks{}
	task := running("web", id)
	mem := resource.MustParse("64Mi")
	cpu := resource.MustParse("500m")
	task.Spec.Resources = v1.Resources{Memory: &mem, CPU: &cpu}
	l.set(task)
	s := usage.New(l, r, usage.Options{})

	setStats(t, r, id, 0, 3*time.Second, 16<<20)
	round(t, s)
	u, ok := s.Get("web")
	if !ok || u.Current == nil || u.Current.CPUCores != nil || u.Current.MemoryBytes != 16<<20 {
		t.Fatalf("first reading: %+v %v; want memory and no CPU rate yet", u.Current, ok)
	}
	// 1.5 s of CPU in 2 s of wall time: three quarters of a core.
	setStats(t, r, id, 2*time.Second, 4500*time.Millisecond, 32<<20)
	round(t, s)
	u, _ = s.Get("web")
	if u.Current.CPUCores == nil || *u.Current.CPUCores != 0.75 || u.Current.MemoryBytes != 32<<20 {
		t.Fatalf("second reading: cpu %v memory %d; want 0.75 cores, 32 MiB", u.Current.CPUCores, u.Current.MemoryBytes)
	}
	if len(u.Samples) != 2 || u.ContainerID != id {
		t.Fatalf("samples %d container %s; want 2 of %s", len(u.Samples), u.ContainerID, id)
	}
	if u.Limits.MemoryBytes != 64<<20 || u.Limits.CPUCores != 0.5 {
		t.Fatalf("limits %+v; want 64Mi and 0.5 cores", u.Limits)
	}
	if pct, ok := u.MemoryPercent(); !ok || pct != 50 {
		t.Fatalf("memory percent %v %v; want 50", pct, ok)
	}
}

func TestRound_RingKeepsTheLastRingSizeReadings(t *testing.T) {
	r := fake.New(fake.WithImages(img))
	id := startContainer(t, r, "web")
	l := &tasks{}
	l.set(running("web", id))
	s := usage.New(l, r, usage.Options{RingSize: 3})
	for i := range 5 {
		setStats(t, r, id, time.Duration(i)*time.Second, 0, uint64(i))
		round(t, s)
	}
	u, _ := s.Get("web")
	var got []uint64
	for _, smp := range u.Samples {
		got = append(got, smp.MemoryBytes)
	}
	if fmt.Sprint(got) != "[2 3 4]" {
		t.Fatalf("ring = %v; want the last three oldest first [2 3 4]", got)
	}
}

func TestRound_NewContainerStartsANewCPUBaseline(t *testing.T) {
	r := fake.New(fake.WithImages(img))
	a := startContainer(t, r, "web-1")
	l := &tasks{}
	l.set(running("web", a))
	s := usage.New(l, r, usage.Options{})
	setStats(t, r, a, 0, 10*time.Second, 1)
	round(t, s)
	b := startContainer(t, r, "web-2") // the restart: CPU time starts again
	l.set(running("web", b))
	setStats(t, r, b, time.Second, 100*time.Millisecond, 2)
	round(t, s)
	u, _ := s.Get("web")
	if u.Current.CPUCores != nil || u.ContainerID != b || len(u.Samples) != 2 {
		t.Fatalf("after restart: cpu %v container %s samples %d; want no rate, %s, ring kept", u.Current.CPUCores, u.ContainerID, len(u.Samples), b)
	}
}

func TestRound_TasksNoLongerRunningAreForgottenWithTheirGauges(t *testing.T) {
	r := fake.New(fake.WithImages(img))
	a, b := startContainer(t, r, "a"), startContainer(t, r, "b")
	l := &tasks{}
	l.set(running("a", a), running("b", b))
	s := usage.New(l, r, usage.Options{})
	setStats(t, r, a, 0, 0, 100)
	setStats(t, r, b, 0, 0, 200)
	round(t, s)
	setStats(t, r, a, time.Second, time.Second, 100)
	setStats(t, r, b, time.Second, 0, 200)
	round(t, s)
	want := `
# HELP cubelet_task_cpu_cores CPU used by the task's container, in cores, averaged since the previous reading (--stats-interval).
# TYPE cubelet_task_cpu_cores gauge
cubelet_task_cpu_cores{task="a"} 1
cubelet_task_cpu_cores{task="b"} 0
# HELP cubelet_task_memory_bytes Working-set memory of the task's container (usage less inactive page cache), in bytes.
# TYPE cubelet_task_memory_bytes gauge
cubelet_task_memory_bytes{task="a"} 100
cubelet_task_memory_bytes{task="b"} 200
`
	if err := testutil.CollectAndCompare(s.Collector(), strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}

	stopped := running("b", b)
	stopped.Status.State = v1.Completed
	l.set(running("a", a), stopped)
	round(t, s)
	if _, ok := s.Get("b"); ok {
		t.Fatal("b is Completed but still has usage")
	}
	if n := testutil.CollectAndCount(s.Collector(), "cubelet_task_memory_bytes"); n != 1 {
		t.Fatalf("%d memory series after b stopped; want 1 (a's)", n)
	}
	l.set()
	round(t, s)
	if n := testutil.CollectAndCount(s.Collector()); n != 0 || len(s.List(false).Items) != 0 {
		t.Fatalf("%d series after every task went; want 0", n)
	}
}

func TestRound_ReadsAtMostMaxPerRoundAndTakesTurns(t *testing.T) {
	r := fake.New(fake.WithImages(img))
	l := &tasks{}
	var ts []v1.Task
	for i := range 5 {
		name := fmt.Sprintf("t%d", i)
		ts = append(ts, running(name, startContainer(t, r, name)))
	}
	l.set(ts...)
	s := usage.New(l, r, usage.Options{MaxPerRound: 2})
	for i := 1; i <= 3; i++ {
		round(t, s)
		if n := r.CallCount(fake.MethodContainerStats); n != 2*i {
			t.Fatalf("after round %d: %d reads; want %d", i, n, 2*i)
		}
	}
	// Three rounds of two cover all five tasks.
	if n := len(s.List(false).Items); n != 5 {
		t.Fatalf("%d tasks read after three rounds; want all 5", n)
	}
}

// countingSource records the most reads in flight at once.
type countingSource struct {
	inFlight, most atomic.Int32
	release        chan struct{}
}

func (c *countingSource) ContainerStats(ctx context.Context, id string) (runtime.Stats, error) {
	n := c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	for {
		m := c.most.Load()
		if n <= m || c.most.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case <-c.release:
	case <-ctx.Done():
		return runtime.Stats{}, ctx.Err()
	}
	return runtime.Stats{Time: time.Now(), MemoryBytes: 1}, nil
}

func TestRound_ConcurrencyBoundsReadsInFlight(t *testing.T) {
	l := &tasks{}
	var ts []v1.Task
	for i := range 10 {
		ts = append(ts, running(fmt.Sprintf("t%d", i), fmt.Sprintf("c%d", i)))
	}
	l.set(ts...)
	src := &countingSource{release: make(chan struct{})}
	s := usage.New(l, src, usage.Options{Concurrency: 3})
	done := make(chan error)
	go func() { done <- s.Round(context.Background()) }()
	// Wait until the limit is reached (a deadline, not a sleep), then let
	// reads through one at a time; each release lets a queued one in.
	deadline := time.Now().Add(5 * time.Second)
	for src.inFlight.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d reads in flight after 5s; want 3", src.inFlight.Load())
		}
		time.Sleep(time.Millisecond)
	}
	for range 10 {
		src.release <- struct{}{}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m := src.most.Load(); m != 3 {
		t.Fatalf("at most %d reads in flight; want exactly the limit 3", m)
	}
}

func TestRound_MissingContainerIsSkipped(t *testing.T) {
	r := fake.New(fake.WithImages(img))
	id := startContainer(t, r, "a")
	l := &tasks{}
	l.set(running("a", id), running("gone", "no-such-container"))
	s := usage.New(l, r, usage.Options{})
	round(t, s)
	if _, ok := s.Get("gone"); ok {
		t.Fatal("a task whose container is gone has usage")
	}
	if _, ok := s.Get("a"); !ok {
		t.Fatal("a has no usage")
	}
}
