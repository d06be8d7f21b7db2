package controller

import (
	"context"
	"sync"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// maxStatusWritesInFlight bounds the status writes handed over and not yet
// committed; a worker that would exceed it waits for a slot, so a store
// slower than the workers slows them down instead of piling up writes.
// It is also the largest commit they make, and so the largest burst of
// events the task informer's watch must absorb: with 512, commits of
// several hundred overran the store's per-watcher buffer (1000 events),
// the watch was dropped and re-established from the window, and the
// replayed tasks, decoded from JSON, took 0.5 KiB more each in the cache
// (issue 14, make bench). 128 converges as fast.
const maxStatusWritesInFlight = 128

// statusWrites commits the status a sync decided without holding the
// worker, as kubelet's status manager does for its pod workers. The
// worker hands the write over and takes the next task; the store gathers
// the writes of many tasks into one commit. Issue 14: writing themselves,
// the workers spent half of a 10,000-task converge waiting for commits
// that held at most one write per worker.
//
// Nothing is decided on a status before it is stored: until the write is
// committed and the task cache shows it, the task's next sync waits
// (expectations.statusPending), as it waited for the echo of a write the
// worker made itself.
type statusWrites struct {
	slots    chan struct{}
	inFlight sync.WaitGroup
}

func newStatusWrites() *statusWrites {
	return &statusWrites{slots: make(chan struct{}, maxStatusWritesInFlight)}
}

// wait returns once every handed-over write has been committed or has
// failed.
func (w *statusWrites) wait() { w.inFlight.Wait() }

// handOverStatus writes task's new status in the background. ctx bounds
// the write (the workers' context: it outlives shutdown by the drain).
func (c *Controller) handOverStatus(ctx context.Context, task *v1.Task, status v1.TaskStatus) {
	c.expectations.statusPending(task.Name)
	select {
	case c.statusWrites.slots <- struct{}{}:
	case <-ctx.Done():
		c.statusCommitted(task.Name, "", ctx.Err())
		return
	}
	c.statusWrites.inFlight.Add(1)
	go func() {
		defer func() {
			<-c.statusWrites.slots
			c.statusWrites.inFlight.Done()
		}()
		rv, err := c.commitStatus(ctx, task, status)
		c.statusCommitted(task.Name, rv, err)
	}()
}

// statusCommitted ends a status write: the task's next sync waits for the
// cache to reach resourceVersion, or, when the write failed, the task is
// retried with back-off, which only a write that succeeds resets (the
// sync that handed it over did not: processNextWorkItem).
func (c *Controller) statusCommitted(name, resourceVersion string, err error) {
	if err != nil {
		c.expectations.statusFailed(name)
		c.log.Warn("reconcile failed, requeued", "task", name, "action", "status", "error", err)
		c.triggers.add(name, triggerRetry)
		c.workqueue.AddRateLimited(name)
		return
	}
	c.workqueue.Forget(name)
	requeue := c.expectations.statusWritten(name, resourceVersion, c.opts.Now())
	// The store published the write before it answered: the cache may
	// have reached it already, its echo gone by while nothing waited for
	// it. Looked at only now that the expectation is set, so either this
	// look or the echo's handler meets it.
	if obj, ok, _ := c.tasks.GetByKey(name); ok && c.expectations.statusObserved(name, obj.(*v1.Task).ResourceVersion) {
		requeue = true
	}
	if requeue {
		c.workqueue.Add(name)
	}
}
