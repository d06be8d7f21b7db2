package controller

import (
	"strconv"
	"sync"
	"time"

	"github.com/cubelet/cubelet/runtime"
)

// defaultExpectationTimeout bounds how long a task waits for the caches to
// show what cubelet itself did. It is short because an expired expectation is
// not a guess: the sync then reads the task's containers from the engine,
// uncached (the ReplicaSet controller instead waits five minutes and then
// trusts its cache).
const defaultExpectationTimeout = 5 * time.Second

// expectations are the ReplicaSet controller's answer to cache lag, fed by
// the informers' event handlers: before acting, a sync records what the
// caches must show afterwards; until they show it (or the expectation times
// out), the task's next sync does not decide from caches that do not yet
// reflect its own actions. That is what keeps a quick spec change from
// running two containers at once, and a fast job from being started twice.
type expectations struct {
	timeout time.Duration
	mu      sync.Mutex
	tasks   map[string]*taskExpectations
	peak    int // len(tasks) at its largest since it was last made
}

type taskExpectations struct {
	// containers maps the name of a container cubelet created or started
	// to when: the cache must show it out of state "created".
	containers map[string]time.Time
	// statusRV is the resourceVersion of cubelet's last status write.
	statusRV int64
	statusAt time.Time
	// statusPending: a status write was handed over and is not committed
	// yet (statusWrites); nothing is decided until it is.
	statusPending bool
	// blocked: a sync deferred to these expectations and wants another
	// look as soon as they are met.
	blocked bool
}

func newExpectations(timeout time.Duration) *expectations {
	return &expectations{timeout: timeout, tasks: map[string]*taskExpectations{}}
}

func (e *expectations) entry(task string) *taskExpectations {
	t := e.tasks[task]
	if t == nil {
		t = &taskExpectations{}
		e.tasks[task] = t
		e.peak = max(e.peak, len(e.tasks))
	}
	return t
}

// drop ends task's entry; see regrowAfter.
func (e *expectations) drop(task string) {
	delete(e.tasks, task)
	if len(e.tasks) == 0 && e.peak > regrowAfter {
		e.tasks, e.peak = map[string]*taskExpectations{}, 0
	}
}

// observed ends task's entry once nothing is left to wait for, as check
// would at its next sync: the entry of a converged task would otherwise
// stay until the task changes again (issue 14: 10,000 of them, idle).
// It reports whether a sync was waiting for that.
func (e *expectations) observed(task string, t *taskExpectations) bool {
	met := t.unblock()
	if t.statusRV == 0 && len(t.containers) == 0 && !t.statusPending {
		e.drop(task)
	}
	return met
}

// expectStart records, before a create or start, that the container cache
// must show container name started (running, or already exited: a fast job
// may never be seen running). Stops and removals need no expectation:
// repeating one that the cache does not show yet changes nothing.
func (e *expectations) expectStart(task, name string, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.entry(task)
	if t.containers == nil {
		t.containers = map[string]time.Time{}
	}
	t.containers[name] = now
}

// lowerContainer drops an expectation whose action the engine refused:
// nothing will come to meet it.
func (e *expectations) lowerContainer(task, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.tasks[task]; t != nil {
		delete(t.containers, name)
	}
}

// containerObserved is called by the container informer's handlers with
// each observed state of a container (gone: it was deleted). It reports
// whether this met the last expectation of a task whose sync waits for it.
func (e *expectations) containerObserved(task string, c *runtime.Container, gone bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tasks[task]
	if t == nil {
		return false
	}
	if _, ok := t.containers[c.Name]; !ok || (!gone && c.State == runtime.StateCreated) {
		return false
	}
	delete(t.containers, c.Name)
	return e.observed(task, t)
}

// expectStatus records the resourceVersion of a status write: the task
// cache must reach it before the task is decided on again.
func (e *expectations) expectStatus(task, resourceVersion string, now time.Time) {
	rv, err := strconv.ParseInt(resourceVersion, 10, 64)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.entry(task)
	t.statusRV, t.statusAt = rv, now
}

// statusPending records that a status write of task was handed over:
// the task's syncs wait until statusWritten or statusFailed.
func (e *expectations) statusPending(task string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.entry(task).statusPending = true
}

// statusWritten ends a pending write committed at resourceVersion ("":
// nothing was written): the cache must reach it before the task is
// decided on again (statusObserved). It reports whether a sync waits and
// nothing is left to wait for.
func (e *expectations) statusWritten(task, resourceVersion string, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tasks[task]
	if t == nil {
		return false
	}
	t.statusPending = false
	if rv, err := strconv.ParseInt(resourceVersion, 10, 64); err == nil {
		t.statusRV, t.statusAt = rv, now
	}
	return e.observed(task, t)
}

// statusFailed ends a pending write that failed; the task is retried.
func (e *expectations) statusFailed(task string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.tasks[task]; t != nil {
		t.statusPending = false
		t.blocked = false
		e.observed(task, t)
	}
}

// statusObserved is called by the task informer's handlers with each
// resourceVersion the cache reaches. It reports whether this met the last
// expectation of a task whose sync waits for it.
func (e *expectations) statusObserved(task, resourceVersion string) bool {
	rv, err := strconv.ParseInt(resourceVersion, 10, 64)
	if err != nil {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tasks[task]
	if t == nil || t.statusRV == 0 || rv < t.statusRV {
		return false
	}
	t.statusRV = 0
	return e.observed(task, t)
}

// unblock reports whether t has nothing left to wait for and a sync was
// waiting for that; it clears the wait.
func (t *taskExpectations) unblock() bool {
	if t.statusRV != 0 || len(t.containers) > 0 || t.statusPending || !t.blocked {
		return false
	}
	t.blocked = false
	return true
}

// verdict is what a sync may do with its caches.
type verdict int

const (
	// cachesCurrent: the caches show everything cubelet did: decide.
	cachesCurrent verdict = iota
	// cachesBehind: wait for the informers (the handler requeues the task
	// when they catch up; the returned delay is the safety net).
	cachesBehind
	// containersExpired: the container cache did not show cubelet's own
	// action in time; read the engine instead of trusting it.
	containersExpired
)

// check tells a sync of task, whose cached copy is at resourceVersion,
// whether it can decide, and if not how long it may wait.
func (e *expectations) check(task, resourceVersion string, now time.Time) (verdict, time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tasks[task]
	if t == nil {
		return cachesCurrent, 0
	}
	if t.statusPending {
		// Not even the engine is read instead: the write in flight may
		// be the task's last word, and a second one would race it. The
		// write's end requeues the task; the delay is the safety net.
		t.blocked = true
		return cachesBehind, e.timeout
	}
	wait := time.Duration(0)
	if t.statusRV != 0 {
		rv, err := strconv.ParseInt(resourceVersion, 10, 64)
		switch left := e.timeout - now.Sub(t.statusAt); {
		case err != nil || rv >= t.statusRV || left <= 0:
			// Caught up, or a write whose echo never came: the store's
			// precondition catches a status decided from an old copy.
			t.statusRV = 0
		default:
			wait = left
		}
	}
	expired := false
	for _, since := range t.containers {
		left := e.timeout - now.Sub(since)
		if left <= 0 {
			expired = true
			continue
		}
		wait = max(wait, left)
	}
	switch {
	case expired:
		return containersExpired, 0
	case wait > 0:
		t.blocked = true
		return cachesBehind, wait
	}
	e.drop(task)
	return cachesCurrent, 0
}

// settled is told what the engine itself listed for a task whose
// expectations expired. An expectation the engine shows unmet (the
// container is gone, or never left "created") is dropped: the cache is
// right not to show it. One the engine shows met stays until the cache
// shows it too, so every sync until then reads the engine again rather
// than decide from a cache that still lacks cubelet's own container.
func (e *expectations) settled(task string, listed []runtime.Container) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tasks[task]
	if t == nil {
		return
	}
	for name := range t.containers {
		met := false
		for i := range listed {
			if listed[i].Name == name && listed[i].State != runtime.StateCreated {
				met = true
				break
			}
		}
		if !met {
			delete(t.containers, name)
		}
	}
}

func (e *expectations) forget(task string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.drop(task)
}
