package controller

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
)

// prober runs the probes of running containers, as kubelet's prober
// manager does: one worker per probe per running container, each a timer
// that fires every periodSeconds (never a sleeping reconcile worker). A
// worker writes its verdict into the results cache; a verdict that changes
// queues the task, as a Docker event does, and the next sync hands the
// cache's snapshot to decide.
//
// Which workers run is decided by the sync from what it observed: the
// current container of a task that should run, while it runs. Everything
// else (a stopped container, a replaced attempt, a deleted task) has its
// workers stopped there.
type prober struct {
	results *probeResults
	check   *probeChecker
	enqueue func(task, trigger string)
	metrics *Metrics
	log     *slog.Logger

	mu sync.Mutex
	// workers holds the running workers by task name, then by key (the
	// container ID and the probe kind).
	workers map[string]map[workerKey]*probeWorker
	stopped bool
}

type workerKey struct {
	container string
	kind      probeKind
}

func newProber(rt Runtime, enqueue func(task, trigger string), metrics *Metrics, log *slog.Logger) *prober {
	return &prober{
		results: newProbeResults(),
		check:   &probeChecker{exec: rt},
		enqueue: enqueue,
		metrics: metrics,
		log:     log,
		workers: map[string]map[workerKey]*probeWorker{},
	}
}

// sync makes the task's workers match what the sync observed: workers for
// each probe of the current container when it runs (and should), none
// for any other container. Results of containers that no longer exist
// are dropped; a stopped container keeps its results, by which decide
// judges its exit. task is nil when the task is gone.
func (p *prober) sync(name string, task *v1.Task, containers []runtime.Container, current *runtime.Container) {
	want := map[workerKey]*v1.Probe{}
	if task != nil && current != nil && current.Running() && task.DeletionTimestamp == nil && task.Spec.DesiredState == v1.Running {
		for kind, probe := range map[probeKind]*v1.Probe{
			probeLiveness: task.Spec.LivenessProbe, probeReadiness: task.Spec.ReadinessProbe, probeStartup: task.Spec.StartupProbe,
		} {
			if probe != nil {
				want[workerKey{current.ID, kind}] = probe
			}
		}
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	have := p.workers[name]
	for key, w := range have {
		if probe, ok := want[key]; !ok || !equality.Semantic.DeepEqual(probe, &w.probe) || !equality.Semantic.DeepEqual(task.Spec.Ports, w.ports) {
			w.stop()
			delete(have, key)
		}
	}
	for key, probe := range want {
		if _, ok := have[key]; ok {
			continue
		}
		if have == nil {
			have = map[workerKey]*probeWorker{}
			p.workers[name] = have
		}
		var ct runtime.Container
		current.DeepCopyInto(&ct)
		w := &probeWorker{
			prober: p, task: name, container: ct, kind: key.kind,
			probe: *probe.DeepCopy(), ports: task.Spec.Ports, hasStartup: task.Spec.StartupProbe != nil,
			done: make(chan struct{}),
		}
		have[key] = w
		go w.run()
	}
	if len(have) == 0 {
		delete(p.workers, name)
	}

	exists := map[string]bool{}
	for i := range containers {
		exists[containers[i].ID] = true
	}
	p.results.forgetAllBut(name, exists)
}

// stopAll stops every worker; the prober starts none after it.
func (p *prober) stopAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	for name, ws := range p.workers {
		for _, w := range ws {
			w.stop()
		}
		delete(p.workers, name)
	}
}

// probeWorker probes one container with one probe.
type probeWorker struct {
	prober     *prober
	task       string
	container  runtime.Container
	kind       probeKind
	probe      v1.Probe
	ports      []v1.PortMapping
	hasStartup bool

	done     chan struct{}
	stopOnce sync.Once

	// Consecutive outcomes, owned by the worker's goroutine.
	successes, failures int32
}

func (w *probeWorker) stop() { w.stopOnce.Do(func() { close(w.done) }) }

// run probes at initialDelaySeconds after the container started, then
// every periodSeconds, until stopped.
func (w *probeWorker) run() {
	delay := time.Until(w.container.StartedAt.Add(time.Duration(w.probe.InitialDelaySeconds) * time.Second))
	timer := time.NewTimer(max(delay, 0))
	defer timer.Stop()
	period := time.Duration(w.probe.PeriodSeconds) * time.Second
	for {
		select {
		case <-w.done:
			return
		case <-timer.C:
		}
		if !w.once() {
			return
		}
		timer.Reset(period)
	}
}

// once runs one probe and folds its outcome into the results; it reports
// whether the worker has more to do.
func (w *probeWorker) once() bool {
	results := w.prober.results
	if w.kind != probeStartup && w.hasStartup && !results.get(w.container.ID).started {
		return true // kubelet's rule: startup gates the other two
	}
	timeout := time.Duration(w.probe.TimeoutSeconds) * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	go func() {
		// A stop cancels a probe in flight.
		select {
		case <-w.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	start := time.Now()
	err := w.prober.check.run(ctx, &w.probe.ProbeHandler, &w.container, w.ports)
	cancel()
	select {
	case <-w.done:
		return false // stopped while probing: the verdict is no longer wanted
	default:
	}
	result := "success"
	if err != nil {
		result = "failure"
	}
	w.prober.metrics.observeProbe(string(w.kind), result, time.Since(start))
	if err != nil {
		w.successes, w.failures = 0, w.failures+1
	} else {
		w.successes, w.failures = w.successes+1, 0
	}

	msg := ""
	if err != nil {
		msg = err.Error()
	}
	var changed bool
	more := true
	switch w.kind {
	case probeLiveness:
		if w.failures >= w.probe.FailureThreshold {
			changed = results.update(w.task, w.container.ID, func(h *containerHealth) { h.failed, h.message = probeLiveness, msg })
			more = false // the container is being stopped; one verdict is enough
		}
	case probeStartup:
		switch {
		case err == nil:
			changed = results.update(w.task, w.container.ID, func(h *containerHealth) { h.started = true })
			more = false // kubelet stops probing startup once it succeeded
		case w.failures >= w.probe.FailureThreshold:
			changed = results.update(w.task, w.container.ID, func(h *containerHealth) { h.failed, h.message = probeStartup, msg })
			more = false
		}
	case probeReadiness:
		switch {
		case err == nil && w.successes >= w.probe.SuccessThreshold:
			changed = results.update(w.task, w.container.ID, func(h *containerHealth) { h.ready, h.readyMessage = true, "" })
		case err != nil && w.failures >= w.probe.FailureThreshold:
			changed = results.update(w.task, w.container.ID, func(h *containerHealth) { h.ready, h.readyMessage = false, msg })
		}
	}
	if changed {
		w.prober.log.Info("probe result changed", "task", w.task, "container", shortID(w.container.ID), "probe", w.kind,
			"result", result, "message", msg)
		w.prober.enqueue(w.task, fmt.Sprintf("probe:%s", w.kind))
	}
	return more
}
