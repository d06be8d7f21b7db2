package controller

import (
	"sync"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
)

// probeKind names one of a task's three probes; metrics and logs use it.
type probeKind string

const (
	probeLiveness  probeKind = "liveness"
	probeReadiness probeKind = "readiness"
	probeStartup   probeKind = "startup"
)

// containerHealth is the prober's verdict on one container, as decide sees
// it. The zero value is "nothing has succeeded yet": not started, not
// ready, not failed, which is how kubelet starts too (a readiness probe is
// a failure until its first success).
type containerHealth struct {
	// started: the startup probe has succeeded.
	started bool
	// ready: the readiness probe's verdict is success.
	ready bool
	// readyMessage is why the readiness probe last failed.
	readyMessage string
	// failed is the probe (liveness or startup) that failed
	// failureThreshold times in a row, "" while none has.
	failed probeKind
	// message is that probe's last failure.
	message string
}

// failure says which probe failed and how, for status messages and logs.
func (h containerHealth) failure() string {
	return string(h.failed) + " probe failed: " + h.message
}

// probeResults is the prober's results cache, keyed by container ID, like
// kubelet's prober results manager. Workers write it; each sync reads a
// snapshot of the task's containers into decide's observation, so decide
// stays pure.
type probeResults struct {
	mu sync.Mutex
	m  map[string]containerHealth
	// byTask is the container IDs held for each task name, so a task's
	// results can be dropped with it.
	byTask map[string]map[string]bool
}

func newProbeResults() *probeResults {
	return &probeResults{m: map[string]containerHealth{}, byTask: map[string]map[string]bool{}}
}

// update applies change to the health of container id of task and reports
// whether it changed.
func (r *probeResults) update(task, id string, change func(*containerHealth)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.m[id]
	before := h
	change(&h)
	r.m[id] = h
	if r.byTask[task] == nil {
		r.byTask[task] = map[string]bool{}
	}
	r.byTask[task][id] = true
	return h != before
}

func (r *probeResults) get(id string) containerHealth {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[id]
}

// snapshot returns the health of the given containers that the cache holds.
func (r *probeResults) snapshot(containers []runtime.Container) map[string]containerHealth {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out map[string]containerHealth
	for i := range containers {
		if h, ok := r.m[containers[i].ID]; ok {
			if out == nil {
				out = map[string]containerHealth{}
			}
			out[containers[i].ID] = h
		}
	}
	return out
}

// forgetAllBut drops the results of the task's containers that are not in
// exist: those no longer exist. A stopped container keeps its results
// while it exists: its exit is judged with them (was it stopped for a
// failed probe?).
func (r *probeResults) forgetAllBut(task string, exist map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.byTask[task] {
		if !exist[id] {
			delete(r.m, id)
			delete(r.byTask[task], id)
		}
	}
	if len(r.byTask[task]) == 0 {
		delete(r.byTask, task)
	}
}

// notReady is what holds a running current container back from Ready: a
// startup probe that has not succeeded, or a readiness probe whose verdict
// is not success.
func notReady(task *v1.Task, current *runtime.Container, health map[string]containerHealth) readinessGate {
	if current == nil || !current.Running() {
		return readinessGate{}
	}
	h := health[current.ID]
	if task.Spec.StartupProbe != nil && !h.started {
		return readinessGate{blocked: true, message: "startup probe has not succeeded yet"}
	}
	if task.Spec.ReadinessProbe != nil && !h.ready {
		msg := "readiness probe has not succeeded yet"
		if h.readyMessage != "" {
			msg = "readiness probe failed: " + h.readyMessage
		}
		return readinessGate{blocked: true, message: msg}
	}
	return readinessGate{}
}
