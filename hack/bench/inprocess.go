package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/util/workqueue"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/runtime/fake"
	"github.com/cubelet/cubelet/store"
)

// benchInProcess converges cfg.tasks tasks from a cold start: the tasks are
// in the store (Pending, as the API writes them) before the controller is
// made; the clock runs from Run until the store has acknowledged a Running
// status, with a container, for every one of them.
func benchInProcess(ctx context.Context, cfg config, rep *report) error {
	n := cfg.tasks
	st, err := store.OpenDir(filepath.Join(cfg.workDir, "inprocess"), store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	err = forEach(ctx, n, 64, func(i int) error {
		t := &v1.Task{Spec: v1.TaskSpec{Image: cfg.image, Args: []string{"--listen", ":8080"}}}
		t.Name = fmt.Sprintf("task-%05d", i)
		t.Finalizers = []string{v1.FinalizerContainers}
		v1.SetDefaults(t)
		t.Status.State = v1.Pending
		_, err := st.Create(ctx, t)
		return err
	})
	if err != nil {
		return fmt.Errorf("seed store: %w", err)
	}

	rt := fake.New(fake.WithImages(cfg.image))
	tasks := &runningCounter{Bolt: st, want: n, running: make(map[string]bool, n), done: make(chan struct{})}
	queue := &queueCounter{}
	before := readMemory()
	taskInformer := controller.NewTaskInformer(tasks, time.Hour)
	containerInformer := controller.NewContainerInformer(rt, st.InstanceID(), controller.ContainerInformerOptions{Resync: time.Hour})
	ctrl := controller.New(tasks, rt, taskInformer, containerInformer, controller.Options{
		Logger:       slog.New(slog.DiscardHandler),
		QueueMetrics: queue,
	})
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runDone := make(chan error, 1)
	start := time.Now()
	go taskInformer.RunWithContext(runCtx)
	go containerInformer.RunWithContext(runCtx)
	go func() { runDone <- ctrl.Run(runCtx, cfg.inWorkers) }()
	var synced time.Duration
	timeout := time.After(5 * time.Minute)
	select {
	case <-ctrl.Synced():
		synced = time.Since(start)
	case <-timeout:
		return fmt.Errorf("caches did not sync")
	}
	select {
	case <-tasks.done:
	case <-timeout:
		return fmt.Errorf("%d of %d tasks Running after 5 minutes", tasks.count(), n)
	}
	elapsed := time.Since(start)
	reconciles := queue.done.Load()
	var mem goruntime.MemStats
	goruntime.ReadMemStats(&mem)
	mallocs := mem.Mallocs - before.mallocs
	statusWrites := tasks.writes.Load()

	// Let the echoes of the last status writes drain, then weigh what the
	// controller holds for the tasks.
	idleCtx, cancelIdle := context.WithTimeout(ctx, time.Minute)
	defer cancelIdle()
	_ = poll(idleCtx, 20*time.Millisecond, func() (bool, error) { return queue.idleFor(200 * time.Millisecond), nil })
	settled := queue.done.Load()
	after := readMemory()
	if cfg.memProfile != "" {
		if err := writeHeapProfile(cfg.memProfile); err != nil {
			return err
		}
	}
	stop()
	if err := <-runDone; err != nil {
		return err
	}
	// The fake engine's records of the containers stand in for Docker's and
	// are not cubelet's: weigh them by removing them, the controller stopped.
	withEngine := readMemory()
	all, err := rt.ListContainers(ctx, "", "")
	if err != nil {
		return err
	}
	for _, c := range all {
		if err := rt.RemoveContainer(ctx, c.ID); err != nil {
			return err
		}
	}
	engine := float64(withEngine.heap) - float64(readMemory().heap)
	goruntime.KeepAlive(rt)
	goruntime.KeepAlive(ctrl)

	heapPerTask := float64(after.heap-before.heap) / float64(n)
	cubeletHeap := heapPerTask - engine/float64(n)
	rssPerTask := float64(after.rss-before.rss) / float64(n)
	logf("in process: %d tasks Running in %s (synced %s), %d reconciles, %d status writes",
		n, secs(elapsed), ms(synced), reconciles, statusWrites)

	rep.add(row{
		section: "In process", name: fmt.Sprintf("%d tasks converge from cold start", n),
		value: secs(elapsed), baseline: "fake engine, zero latency",
		result: secs(elapsed), target: "≤ 1 s", met: verdict(elapsed <= time.Second),
		detail: fmt.Sprintf("caches synced after %s; %d workers; %d durable status writes (%.1f per task)",
			ms(synced), cfg.inWorkers, statusWrites, float64(statusWrites)/float64(n)),
	})
	rep.add(row{
		section: "In process", name: "reconciles per second",
		value: fmt.Sprintf("%.0f /s", float64(reconciles)/elapsed.Seconds()), baseline: "—",
		result: fmt.Sprintf("%.0f /s", float64(reconciles)/elapsed.Seconds()), target: "—", met: "—",
		detail: fmt.Sprintf("%d reconciles until all Running (%.1f per task), %d once the queue was idle",
			reconciles, float64(reconciles)/float64(n), settled),
	})
	rep.add(row{
		section: "In process", name: "allocations per reconcile",
		value: fmt.Sprintf("%.0f", float64(mallocs)/float64(reconciles)), baseline: "—",
		result: fmt.Sprintf("%.0f", float64(mallocs)/float64(reconciles)), target: "—", met: "—",
		detail: fmt.Sprintf("all heap allocations of the process (store, informers, fake engine included) over the converge: %d; %.1f KiB allocated per reconcile",
			mallocs, float64(mem.TotalAlloc-before.totalAlloc)/float64(reconciles)/1024),
	})
	rep.add(row{
		section: "In process", name: "resident memory per task",
		value: kib(cubeletHeap), baseline: kib(engine/float64(n)) + " fake engine",
		result: kib(cubeletHeap), target: "≤ 5 KiB", met: verdict(cubeletHeap <= 5*1024),
		detail: fmt.Sprintf("live heap after GC grew %s per task, of which the fake engine's records of the containers %s; RSS grew %s per task",
			kib(heapPerTask), kib(engine/float64(n)), kib(rssPerTask)),
	})
	return nil
}

func kib(b float64) string { return fmt.Sprintf("%.2f KiB", b/1024) }

// memory is the process's memory after a full collection.
type memory struct {
	heap, mallocs, totalAlloc uint64
	rss                       uint64
}

func readMemory() memory {
	goruntime.GC()
	debug.FreeOSMemory()
	var s goruntime.MemStats
	goruntime.ReadMemStats(&s)
	return memory{heap: s.HeapInuse, mallocs: s.Mallocs, totalAlloc: s.TotalAlloc, rss: vmRSS()}
}

// vmRSS reads the resident set size from /proc/self/status.
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// runningCounter is the store as the controller sees it, noting each task
// whose Running status (with a container) the store has acknowledged.
type runningCounter struct {
	*store.Bolt
	want   int
	writes atomic.Int64

	mu      sync.Mutex
	running map[string]bool
	done    chan struct{}
}

func (r *runningCounter) UpdateStatus(ctx context.Context, t *v1.Task) (*v1.Task, error) {
	out, err := r.Bolt.UpdateStatus(ctx, t)
	if err != nil {
		return out, err
	}
	r.writes.Add(1)
	if out.Status.State == v1.Running && out.Status.ContainerID != "" {
		r.mu.Lock()
		if !r.running[out.Name] {
			r.running[out.Name] = true
			if len(r.running) == r.want {
				close(r.done)
			}
		}
		r.mu.Unlock()
	}
	return out, nil
}

func (r *runningCounter) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.running)
}

// queueCounter is a workqueue.MetricsProvider that counts finished items
// (reconciles) and tracks the depth and in-flight work.
type queueCounter struct {
	done     atomic.Int64
	depth    atomic.Int64
	inFlight atomic.Int64
	lastDone atomic.Int64 // unix nanos
}

// idleFor reports whether nothing was queued or running for d.
func (q *queueCounter) idleFor(d time.Duration) bool {
	return q.depth.Load() == 0 && q.inFlight.Load() == 0 && time.Since(time.Unix(0, q.lastDone.Load())) >= d
}

type counterFunc func()

func (f counterFunc) Inc() { f() }

type gaugeFuncs struct{ inc, dec func() }

func (g gaugeFuncs) Inc() { g.inc() }
func (g gaugeFuncs) Dec() { g.dec() }

type histogramFunc func(float64)

func (f histogramFunc) Observe(v float64) { f(v) }

type settableFunc func(float64)

func (f settableFunc) Set(v float64) { f(v) }

func (q *queueCounter) NewDepthMetric(string) workqueue.GaugeMetric {
	return gaugeFuncs{inc: func() { q.depth.Add(1) }, dec: func() { q.depth.Add(-1) }}
}
func (q *queueCounter) NewAddsMetric(string) workqueue.CounterMetric { return counterFunc(func() {}) }
func (q *queueCounter) NewLatencyMetric(string) workqueue.HistogramMetric {
	// Observed when a worker takes an item.
	return histogramFunc(func(float64) { q.inFlight.Add(1) })
}
func (q *queueCounter) NewWorkDurationMetric(string) workqueue.HistogramMetric {
	// Observed when a worker is done with an item: one reconcile.
	return histogramFunc(func(float64) {
		q.inFlight.Add(-1)
		q.done.Add(1)
		q.lastDone.Store(time.Now().UnixNano())
	})
}
func (q *queueCounter) NewUnfinishedWorkSecondsMetric(string) workqueue.SettableGaugeMetric {
	return settableFunc(func(float64) {})
}
func (q *queueCounter) NewLongestRunningProcessorSecondsMetric(string) workqueue.SettableGaugeMetric {
	return settableFunc(func(float64) {})
}
func (q *queueCounter) NewRetriesMetric(string) workqueue.CounterMetric {
	return counterFunc(func() {})
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
