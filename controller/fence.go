package controller

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
)

// NodeLease is what fencing needs of this node's lease in a cluster
// (store.NodeLease implements it; docs/cluster.md, Fencing).
type NodeLease interface {
	// Held reports whether the node may still consider its lease held:
	// false from shortly before etcd may expire it until it is renewed
	// or replaced.
	Held() bool
	// Changed returns a channel closed at the next change of Held.
	Changed() <-chan struct{}
}

const (
	// fenceGrace is the SIGTERM-to-SIGKILL grace of a fence stop, whatever
	// the task asks for: the leader may start the task elsewhere a
	// node-grace after the lease's expiry, and the copy here must be gone
	// by then.
	fenceGrace = time.Second
	// fenceRecheck is how often a fenced node lists its containers again
	// while its lease stays lost: the safety net for a start that was
	// already under way when the lease was lost.
	fenceRecheck = 2 * time.Second
	// fenceStops is how many containers are stopped at once.
	fenceStops = 16
	// fenceListTimeout bounds one read of the store while the node
	// checks, after it holds its lease again, that its task cache has
	// caught up.
	fenceListTimeout = 10 * time.Second
)

// errFenced is the error of a start refused because the node is fenced.
var errFenced = errors.New("node lease not held: fenced, nothing is started")

// fence keeps a node whose lease is lost from running anything. A node
// cut off from etcd cannot know whether the leader has moved its tasks;
// it must assume so from shortly before its lease may have expired, and
// stop its containers before the leader starts them elsewhere (the leader
// waits node-grace after the expiry). The node is open again once its
// lease is held again and its task cache has caught up with etcd, so it
// restarts only what is still bound to it and removes what moved.
//
// On a single host (no lease) the fence is always open.
type fence struct {
	lease NodeLease
	// closed is true from the loss of the lease until the node is open
	// again; lease.Held() is read as well, so a sync sees the loss before
	// the fence's goroutine does.
	closed atomic.Bool

	mu sync.Mutex
	// held is done once the lease is lost: it bounds status writes, so a
	// write under way when etcd became unreachable does not hold a
	// worker until etcd answers again.
	held       context.Context
	cancelHeld context.CancelFunc

	// taskEvents wakes the catch-up check on any task cache event.
	taskEvents chan struct{}
}

func newFence(lease NodeLease) *fence {
	f := &fence{lease: lease, taskEvents: make(chan struct{}, 1)}
	f.held, f.cancelHeld = context.WithCancel(context.Background())
	return f
}

// open reports whether the node may start containers and write status.
func (f *fence) open() bool {
	if f.lease == nil {
		return true
	}
	return !f.closed.Load() && f.lease.Held()
}

// whileHeld returns ctx, cancelled also when the lease is lost.
func (f *fence) whileHeld(ctx context.Context) (context.Context, context.CancelFunc) {
	if f.lease == nil {
		return ctx, func() {}
	}
	f.mu.Lock()
	held := f.held
	f.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(held, cancel)
	return ctx, func() { stop(); cancel() }
}

func (f *fence) setClosed(closed bool) {
	f.closed.Store(closed)
	f.mu.Lock()
	defer f.mu.Unlock()
	if closed {
		f.cancelHeld()
	} else if f.held.Err() != nil {
		f.held, f.cancelHeld = context.WithCancel(context.Background())
	}
}

// taskEvent is called on every task cache event.
func (f *fence) taskEvent() {
	if f.lease == nil {
		return
	}
	select {
	case f.taskEvents <- struct{}{}:
	default:
	}
}

// runFence follows the node's lease until ctx ends: when the lease is
// lost it closes the fence and stops every running container of this
// instance, again every fenceRecheck while it stays lost; when the lease
// is held again and the task cache has caught up, it opens the fence and
// requeues every task. A lease that goes away because cubelet is shutting
// down (ctx ended: its Stop ends it) fences nothing: a stopped cubelet
// leaves its containers running.
func (c *Controller) runFence(ctx context.Context) {
	f := c.fence
	if f.lease == nil {
		return
	}
	var recheck <-chan time.Time
	var ticker *time.Ticker
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	tick := func(on bool) {
		switch {
		case on && ticker == nil:
			ticker = time.NewTicker(fenceRecheck)
			recheck = ticker.C
		case !on && ticker != nil:
			ticker.Stop()
			ticker, recheck = nil, nil
		}
	}
	var snapshot *v1.TaskList
	for {
		changed := f.lease.Changed()
		if ctx.Err() != nil {
			return
		}
		held := f.lease.Held()
		var taskEvents <-chan struct{}
		switch {
		case !held:
			if !f.closed.Load() {
				f.setClosed(true)
				c.log.Warn("node lease not held: fencing, stopping this node's containers", "grace", fenceGrace)
			}
			snapshot = nil
			c.stopAllContainers(ctx)
			tick(true)
		case f.closed.Load():
			// Held again: open once the task cache shows at least what
			// etcd holds now, so that no task is restarted here from a
			// stale cache that still binds it to this node.
			if snapshot == nil {
				snapshot = c.readTasks(ctx)
			}
			if snapshot != nil && c.taskCacheCaughtUp(snapshot) {
				f.setClosed(false)
				snapshot = nil
				tick(false)
				c.log.Info("node lease held again: reconciling every task")
				c.requeueAll()
				break
			}
			taskEvents = f.taskEvents
			tick(true)
		default:
			tick(false)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-taskEvents:
		case <-recheck:
			if held {
				snapshot = nil // read etcd again: a task may have gone meanwhile
			}
		}
	}
}

// stopAllContainers stops every running container of this instance, as
// the engine lists them by the instance label: the informer's cache may
// miss some (a task it lost). When the engine cannot list, the cache is
// all there is.
func (c *Controller) stopAllContainers(ctx context.Context) {
	listed, err := c.runtime.ListContainers(ctx, LabelInstance, c.instance)
	if err != nil {
		c.log.Warn("fence: cannot list containers from the engine; stopping those in the cache", "error", err)
		listed = nil
		for _, obj := range c.containers.List() {
			if oc, ok := obj.(*ObservedContainer); ok {
				listed = append(listed, oc.Container)
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fenceStops)
	for i := range listed {
		ctr := &listed[i]
		if !ownedBy(c.instance, ctr) || !ctr.Running() {
			continue
		}
		g.Go(func() error {
			start := time.Now()
			err := c.runtime.StopContainer(gctx, ctr.ID, fenceGrace)
			if err != nil && !errors.Is(err, runtime.ErrNotFound) {
				c.log.Warn("fence: stop failed", "container", ctr.Name, "id", shortID(ctr.ID), "task", ctr.Labels[LabelTask], "error", err)
				return nil // the next round tries again
			}
			c.metrics.observeFenced()
			c.log.Warn("fence: stopped", "container", ctr.Name, "id", shortID(ctr.ID), "task", ctr.Labels[LabelTask],
				"duration", time.Since(start).Round(time.Millisecond))
			return nil
		})
	}
	_ = g.Wait()
}

// readTasks reads every task from the store; nil when it cannot.
func (c *Controller) readTasks(ctx context.Context) *v1.TaskList {
	ctx, cancel := context.WithTimeout(ctx, fenceListTimeout)
	defer cancel()
	list, err := c.store.List(ctx, labels.Everything())
	if err != nil {
		c.log.Warn("node lease held again, but the tasks cannot be read: still fenced", "error", err)
		return nil
	}
	return list
}

// taskCacheCaughtUp reports whether the task cache shows at least what
// list, read from the store, shows: every listed task at its version or a
// later one, and no cached task the list does not have unless it was
// written after the list.
func (c *Controller) taskCacheCaughtUp(list *v1.TaskList) bool {
	if !c.tasksSynced() {
		return false
	}
	listed := make(map[string]bool, len(list.Items))
	for i := range list.Items {
		t := &list.Items[i]
		listed[t.Name] = true
		cached, err := c.cachedTask(t.Name)
		if err != nil || cached == nil || versionBefore(cached.ResourceVersion, t.ResourceVersion) {
			return false
		}
	}
	for _, obj := range c.tasks.List() {
		t, ok := obj.(*v1.Task)
		if !ok || listed[t.Name] {
			continue
		}
		if !versionBefore(list.ResourceVersion, t.ResourceVersion) {
			return false // deleted in the store, still in the cache
		}
	}
	return true
}

// versionBefore reports whether resourceVersion a is older than b. Both
// backends' versions are revision numbers; anything else compares as not
// ordered, and only equal versions count as caught up.
func versionBefore(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	if errA != nil || errB != nil {
		return a != b
	}
	return x < y
}

// fencedPlan is plan p as a fenced node may carry it out: stops and
// removals only. Nothing is started, the status is left as it is (no
// write: etcd is unreachable, and the task may already be another node's),
// no finalizer is released, no crash is counted for a container the fence
// stopped, and nothing is requeued (the fence requeues every task when it
// opens).
func fencedPlan(o observation, p plan) plan {
	out := plan{crash: o.crash}
	if o.task != nil {
		out.status = o.task.Status
	}
	for _, a := range p.actions {
		if a.kind == actionStop || a.kind == actionRemove {
			out.actions = append(out.actions, a)
		}
	}
	return out
}

// startContainer starts a container unless the node is fenced: checked at
// the last moment, so a sync decided before the lease was lost does not
// start what the fence has just stopped.
func (c *Controller) startContainer(ctx context.Context, id string) error {
	if !c.fence.open() {
		return errFenced
	}
	return c.runtime.StartContainer(ctx, id)
}
