package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
)

// syncResult tells processNextWorkItem when to look again.
type syncResult struct {
	requeueAfter time.Duration
	// waited: the sync only waited for a cache to catch up, so the reason
	// it was queued still stands for the next look.
	waited bool
}

// syncHandler reconciles one task: read the caches, decide, execute, write
// status. Any error returned means "requeue with back-off".
func (c *Controller) syncHandler(ctx context.Context, name, trigger string) (syncResult, error) {
	task, err := c.cachedTask(name)
	if err != nil {
		return syncResult{}, err
	}
	if task != nil && !c.statuses.satisfied(name, task.ResourceVersion) {
		// The cache has not caught up with our last status write: look
		// again in a moment rather than decide from a status we replaced.
		c.log.Debug("reconcile", "task", name, "action", actionNone, "trigger", trigger, "result", "waiting for cache")
		return syncResult{requeueAfter: cacheLagRetry, waited: true}, nil
	}
	obs := observation{
		task:       task,
		containers: c.cachedContainers(name),
		now:        c.opts.Now(),
		backoff:    c.opts.Backoff,
		jitter:     randomJitter,
	}
	if task == nil {
		// Gone without passing through finalize: nothing to remember.
		c.statuses.forget(name)
		c.restarts.forget(name)
	} else {
		obs.restart = c.restarts.get(name, task.UID)
	}
	p := decide(obs)

	acted := false
	for _, a := range p.actions {
		start := time.Now()
		kind, started, err := c.execute(ctx, task, a)
		c.logAction(name, kind, a, trigger, time.Since(start), err)
		if err != nil {
			if acted && task != nil {
				// What was done is done: keep the restarts it counted.
				c.remember(task, p.restart, p.status.RestartCount-task.Status.RestartCount)
			}
			return syncResult{}, c.recordFailure(ctx, task, kind, err)
		}
		acted = true
		if started != "" {
			p.restart.Started, p.restart.StartedAt = started, obs.now
		}
	}

	if task == nil {
		return syncResult{}, nil
	}
	// Until the status write lands, the restarts this plan counted live in
	// the record, so a failed write does not lose them.
	c.remember(task, p.restart, p.status.RestartCount-task.Status.RestartCount)
	if p.finalize {
		return syncResult{}, c.finalize(ctx, task)
	}
	changed := !equality.Semantic.DeepEqual(task.Status, p.status)
	if changed {
		if err := c.writeStatus(ctx, task, p.status); err != nil {
			return syncResult{}, err
		}
		c.remember(task, p.restart, 0)
	}
	if len(p.actions) == 0 {
		level := c.log.Debug
		if changed {
			level = c.log.Info
		}
		level("reconcile", "task", name, "action", actionNone, "trigger", trigger,
			"state", p.status.State, "reason", p.status.Reason, "result", "ok")
	}
	return syncResult{requeueAfter: p.requeueAfter, waited: p.waited}, nil
}

// remember keeps a task's record, with uncounted restarts not yet in a
// durable status, or forgets it when there is nothing to keep.
func (c *Controller) remember(task *v1.Task, r restartRecord, uncounted int32) {
	r.UID, r.Uncounted = task.UID, uncounted
	if r == (restartRecord{UID: task.UID}) {
		c.restarts.forget(task.Name)
		return
	}
	c.restarts.set(task.Name, r)
}

// cachedTask reads the task informer's cache; nil when the task is gone.
func (c *Controller) cachedTask(name string) (*v1.Task, error) {
	obj, exists, err := c.taskInformer.GetIndexer().GetByKey(name)
	if err != nil {
		return nil, fmt.Errorf("read task %s from cache: %w", name, err)
	}
	if !exists {
		return nil, nil
	}
	task, ok := obj.(*v1.Task)
	if !ok {
		return nil, fmt.Errorf("task cache holds %T", obj)
	}
	return task, nil
}

// cachedContainers reads the managed containers labelled with the task name.
func (c *Controller) cachedContainers(name string) []runtime.Container {
	objs, err := c.containerInformer.GetIndexer().ByIndex(indexByTask, name)
	if err != nil {
		return nil
	}
	containers := make([]runtime.Container, 0, len(objs))
	for _, obj := range objs {
		oc, ok := obj.(*ObservedContainer)
		if ok && oc.Labels[LabelManaged] == managedValue {
			containers = append(containers, oc.Container)
		}
	}
	return containers
}

// recordFailure puts the reason a container could not be made or started
// in the status, as kubelet does, and returns the error for a rate-limited
// retry. Failures of stops and removals stay in the log: they change
// nothing the user asked for.
func (c *Controller) recordFailure(ctx context.Context, task *v1.Task, kind actionKind, err error) error {
	if task == nil || errors.Is(err, context.Canceled) {
		return err
	}
	reason := imageReason(err, task.Status.Reason)
	switch {
	case reason != "":
	case kind == actionCreate || kind == actionAdopt:
		reason = ReasonCreateContainerError
	case kind == actionStart || kind == actionRestart:
		reason = ReasonRunContainerError
	default:
		return err
	}
	status := task.Status.DeepCopy()
	prev := status.State
	if prev == "" {
		prev = v1.Pending
	}
	// observedGeneration stays: this generation has not been realised, and
	// its new run (with any restart it counts) is still to happen.
	status.Reason, status.Message = reason, err.Error()
	now := c.opts.Now()
	target := v1.Scheduled
	if prev == v1.Running {
		target = v1.Running
	}
	setState(status, prev, target, task.Generation != task.Status.ObservedGeneration, now)
	setConditions(status, now)
	if writeErr := c.writeStatus(ctx, task, *status); writeErr != nil {
		return errors.Join(err, writeErr)
	}
	return err
}

// writeStatus writes the status decide computed from task. When the write
// loses a race (the stored task moved on since the cache copy), the status
// is re-applied to the stored task as long as its spec is the one decided
// on, carrying the restarts this sync made: actions already happened, and a
// restart they counted must not be lost to a retry.
func (c *Controller) writeStatus(ctx context.Context, task *v1.Task, status v1.TaskStatus) error {
	updated := task.DeepCopy()
	updated.Status = status
	stored, err := c.store.UpdateStatus(ctx, updated)
	if apierrors.IsConflict(err) {
		stored, err = c.reapplyStatus(ctx, task, status)
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("update status of task %s: %w", task.Name, err)
	}
	c.statuses.wrote(task.Name, stored.ResourceVersion)
	return nil
}

func (c *Controller) reapplyStatus(ctx context.Context, decidedOn *v1.Task, status v1.TaskStatus) (*v1.Task, error) {
	var stored *v1.Task
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		fresh, err := c.store.Get(ctx, decidedOn.Name)
		if err != nil {
			return err
		}
		if fresh.UID != decidedOn.UID || fresh.Generation != decidedOn.Generation {
			// The spec moved on: decide again rather than write a status
			// about the old one.
			return fmt.Errorf("task %s changed while reconciling", decidedOn.Name)
		}
		next := *status.DeepCopy()
		next.RestartCount = fresh.Status.RestartCount + (status.RestartCount - decidedOn.Status.RestartCount)
		fresh.Status = next
		stored, err = c.store.UpdateStatus(ctx, fresh)
		return err
	})
	return stored, err
}

// finalize releases the finalizer of a deleted task whose containers are
// gone; the store then removes the object.
func (c *Controller) finalize(ctx context.Context, task *v1.Task) error {
	updated := task.DeepCopy()
	updated.Finalizers = nil
	for _, f := range task.Finalizers {
		if f != v1.FinalizerContainers {
			updated.Finalizers = append(updated.Finalizers, f)
		}
	}
	if _, err := c.store.Update(ctx, updated); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release finalizer of task %s: %w", task.Name, err)
	}
	c.restarts.forget(task.Name)
	c.statuses.forget(task.Name)
	c.log.Info("reconcile", "task", task.Name, "action", "finalize", "result", "ok")
	return nil
}

func (c *Controller) logAction(task string, kind actionKind, a action, trigger string, d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	c.metrics.observeAction(string(kind), result, d)
	attrs := []any{"task", task, "action", kind, "container", shortID(a.container), "trigger", trigger,
		"why", a.why, "duration", d.Round(time.Microsecond), "result", result}
	if err != nil {
		c.log.Warn("reconcile", append(attrs, "error", err)...)
		return
	}
	c.log.Info("reconcile", attrs...)
}

func shortID(id string) string {
	if len(id) == 64 {
		return id[:12]
	}
	return id
}
