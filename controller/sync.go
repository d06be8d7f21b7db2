package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
)

// syncResult tells processNextWorkItem when to look again.
type syncResult struct {
	requeueAfter time.Duration
	// waited: the sync only waited for a cache to catch up, so the reason
	// it was queued still stands for the next look.
	waited bool
	// handedOver: the sync handed a status write over (statusWrites); its
	// outcome, not the sync's, resets the task's back-off.
	handedOver bool
}

// sync reconciles one task: read the caches, decide, execute, write status.
// Any error returned means "requeue with back-off". It is the default
// syncHandler.
func (c *Controller) sync(ctx context.Context, name, trigger string) (syncResult, error) {
	task, err := c.cachedTask(name)
	if err != nil {
		return syncResult{}, err
	}
	now := c.opts.Now()
	resourceVersion := ""
	if task != nil {
		resourceVersion = task.ResourceVersion
	}
	containers, wait, err := c.observeContainers(ctx, name, resourceVersion, now)
	if err != nil {
		return syncResult{}, err
	}
	if wait > 0 {
		c.log.Debug("reconcile", "task", name, "action", actionNone, "trigger", trigger, "result", "waiting for caches")
		return syncResult{requeueAfter: wait, waited: true}, nil
	}
	obs := observation{
		task:       task,
		containers: containers,
		instance:   c.instance,
		nodeName:   c.opts.NodeName,
		fenced:     !c.fence.open(),
		now:        now,
		backoff:    c.opts.Backoff,
		jitter:     randomJitter,
	}
	if task != nil {
		obs.crash = c.crashes.get(name, task.UID)
	}
	obs.health = c.prober.results.snapshot(containers)
	p := decide(obs)
	c.prober.sync(name, task, containers, probeTarget(p, containers))

	started := false
	for _, a := range p.actions {
		if a.kind == actionCreate || a.kind == actionRestart || a.kind == actionStart {
			c.expectations.expectStart(name, a.name, now)
			started = true
		}
		start := time.Now()
		kind, err := c.execute(ctx, a)
		c.logAction(name, kind, a, trigger, time.Since(start), err)
		if err != nil {
			if !ambiguous(err) {
				c.expectations.lowerContainer(name, a.name)
			}
			return syncResult{}, &reportedError{c.recordFailure(ctx, task, kind, err)}
		}
	}

	if task == nil {
		c.crashes.forget(name)
		return syncResult{}, nil
	}
	c.crashes.set(name, p.crash)
	if p.finalize {
		return syncResult{}, c.finalize(ctx, task)
	}
	changed := !equality.Semantic.DeepEqual(task.Status, p.status)
	if changed && started && p.status.Reason == ReasonCreating {
		// "Creating" right after a successful create and start is stale
		// before it lands: the start's event brings the next sync, which
		// writes what the container then is. Skipping it halves the
		// fsynced writes of a converge; "this run began" needs no status,
		// it is read from the container's generation label.
		changed = false
	}
	if changed {
		c.handOverStatus(ctx, task, p.status)
	}
	handedOver := changed
	if len(p.actions) == 0 {
		level := c.log.Debug
		if changed {
			level = c.log.Info
		}
		level("reconcile", "task", name, "action", actionNone, "trigger", trigger,
			"state", p.status.State, "reason", p.status.Reason, "result", "ok")
	}
	return syncResult{requeueAfter: p.requeueAfter, handedOver: handedOver}, nil
}

// observeContainers returns the task's containers from the cache, or from
// the engine itself when the cache failed to show cubelet's own action in
// time; a positive wait means the caches are behind and the sync should
// wait for them rather than decide.
func (c *Controller) observeContainers(ctx context.Context, name, resourceVersion string, now time.Time) ([]runtime.Container, time.Duration, error) {
	verdict, wait := c.expectations.check(name, resourceVersion, now)
	switch verdict {
	case cachesBehind:
		return nil, wait, nil
	case containersExpired:
		listed, err := c.runtime.ListContainers(ctx, LabelTask, name)
		if err != nil {
			return nil, 0, fmt.Errorf("list containers of task %s from the engine: %w", name, err)
		}
		own := c.own(listed)
		c.expectations.settled(name, own)
		c.log.Info("container cache is behind: read the task's containers from the engine", "task", name, "containers", len(own))
		return own, 0, nil
	}
	return c.cachedContainers(name), 0, nil
}

// own keeps the containers of this instance.
func (c *Controller) own(containers []runtime.Container) []runtime.Container {
	out := containers[:0:0]
	for i := range containers {
		if ownedBy(c.instance, &containers[i]) {
			out = append(out, containers[i])
		}
	}
	return out
}

// ambiguous reports whether an engine call may have taken effect although
// it failed: the request timed out or the connection broke after it was
// sent. Its expectation then stays until observed or expired.
func ambiguous(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.As(err, &netErr)
}

// reportedError is an error the reconcile log already carries; the
// requeue does not log it again.
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

// cachedTask reads the task informer's cache; nil when the task is gone.
func (c *Controller) cachedTask(name string) (*v1.Task, error) {
	obj, exists, err := c.tasks.GetByKey(name)
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

// cachedContainers reads this instance's containers labelled with the task
// name.
func (c *Controller) cachedContainers(name string) []runtime.Container {
	objs, err := c.containers.ByIndex(indexByTask, name)
	if err != nil {
		return nil
	}
	containers := make([]runtime.Container, 0, len(objs))
	for _, obj := range objs {
		oc, ok := obj.(*ObservedContainer)
		if ok && ownedBy(c.instance, &oc.Container) {
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
	// observedGeneration stays: this generation has not been realised.
	status.Reason, status.Message = reason, err.Error()
	now := c.opts.Now()
	target := v1.Scheduled
	if prev == v1.Running {
		target = v1.Running
	}
	newRun := task.Generation != task.Status.ObservedGeneration
	if managerRestarts(task) {
		// A Cube manager restarts its tasks, and only Failed tells it
		// to: the book's worker reports a container that cannot start
		// as Failed. The run is over, so no retry of cubelet's can
		// start it behind the manager's back (a stop would not reach
		// a Scheduled task: the manager's table refuses it).
		target = v1.Failed
		status.ObservedGeneration = task.Generation
		status.NextRetryTime = nil
	}
	setState(status, prev, target, newRun, now)
	setConditions(status, now, readinessGate{})
	if writeErr := c.writeStatus(ctx, task, *status); writeErr != nil {
		return errors.Join(err, writeErr)
	}
	return err
}

// writeStatus writes status and returns once it is committed; a failed
// action's status goes this way, its error returned with the write's.
func (c *Controller) writeStatus(ctx context.Context, task *v1.Task, status v1.TaskStatus) error {
	rv, err := c.commitStatus(ctx, task, status)
	if err != nil {
		return err
	}
	if rv != "" {
		c.expectations.expectStatus(task.Name, rv, c.opts.Now())
	}
	return nil
}

// commitStatus writes the status decide computed from the cached task and
// returns the resourceVersion it got ("" when nothing was written). The
// write is conditional on the cached resourceVersion: when the stored
// task moved on, the sync is retried from fresh caches, which lose nothing
// since what was done is on the containers.
func (c *Controller) commitStatus(ctx context.Context, task *v1.Task, status v1.TaskStatus) (string, error) {
	if !c.fence.open() {
		// Fenced: etcd is out of reach, and the task may be another
		// node's by now. The fence requeues every task when it opens.
		return "", nil
	}
	ctx, cancel := c.fence.whileHeld(ctx)
	defer cancel()
	// The store copies what it keeps of the task it is given.
	updated := *task
	updated.Status = status
	stored, err := c.updateStatusFrom(ctx, task, &updated)
	switch {
	case apierrors.IsNotFound(err):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("update status of task %s: %w", task.Name, err)
	}
	return stored.ResourceVersion, nil
}

// finalize releases the finalizer of a deleted task whose containers are
// gone; the store then removes the object.
func (c *Controller) finalize(ctx context.Context, task *v1.Task) error {
	if !c.fence.open() {
		return nil // as writeStatus
	}
	ctx, cancel := c.fence.whileHeld(ctx)
	defer cancel()
	updated := task.DeepCopy()
	updated.Finalizers = nil
	for _, f := range task.Finalizers {
		if f != v1.FinalizerContainers {
			updated.Finalizers = append(updated.Finalizers, f)
		}
	}
	if _, err := c.updateFrom(ctx, task, updated); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release finalizer of task %s: %w", task.Name, err)
	}
	c.crashes.forget(task.Name)
	c.log.Info("reconcile", "task", task.Name, "action", "finalize", "result", "ok")
	return nil
}

func (c *Controller) logAction(task string, kind actionKind, a action, trigger string, d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	c.metrics.observeAction(string(kind), result, d)
	container := shortID(a.container)
	if container == "" {
		container = a.name
	}
	attrs := []any{"task", task, "action", kind, "container", container, "trigger", trigger,
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

// probeTarget is the container the prober should watch after plan p: the
// task's current container, unless p stops or removes it.
func probeTarget(p plan, containers []runtime.Container) *runtime.Container {
	id := p.status.ContainerID
	if id == "" {
		return nil
	}
	for _, a := range p.actions {
		if a.container == id && (a.kind == actionStop || a.kind == actionRemove) {
			return nil
		}
	}
	for i := range containers {
		if containers[i].ID == id {
			return &containers[i]
		}
	}
	return nil
}
