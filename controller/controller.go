package controller

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// QueueName names the workqueue; its metrics carry it.
const QueueName = "cubelet_tasks"

// Options tune the controller.
type Options struct {
	// Backoff is the crash-loop back-off of restarts.
	Backoff BackoffPolicy
	// RetryBase and RetryMax bound the workqueue's per-task exponential
	// back-off after a failed sync (image pulls, engine errors).
	RetryBase, RetryMax time.Duration
	// Logger receives one line per reconcile action.
	Logger *slog.Logger
	// Metrics, when set, records reconciles and events.
	Metrics *Metrics
	// QueueMetrics, when set, receives the workqueue's metrics.
	QueueMetrics workqueue.MetricsProvider
	// DrainTimeout bounds how long in-flight reconciles may run on after
	// shutdown begins before their Docker calls are cancelled.
	DrainTimeout time.Duration
	// ExpectationTimeout bounds how long a task waits for the container
	// cache to show cubelet's own create or start before its containers
	// are read from the engine instead.
	ExpectationTimeout time.Duration
	// Now is the clock decisions are made with (tests fix it).
	Now func() time.Time
	// NodeName is this cubelet's node in a cluster (docs/cluster.md):
	// it then reconciles only tasks whose spec.nodeName is this name.
	// Empty is a single host, where every task is this cubelet's.
	NodeName string
	// NodeLease is this node's lease in a cluster: while it is not held
	// the node is fenced (fence.go): it starts nothing, writes no status
	// and stops its running containers. Nil (a single host, or fencing
	// turned off) is a lease always held.
	NodeLease NodeLease
}

func (o *Options) setDefaults() {
	o.Backoff.setDefaults()
	if o.RetryBase == 0 {
		o.RetryBase = 500 * time.Millisecond
	}
	if o.RetryMax == 0 {
		o.RetryMax = 5 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.ExpectationTimeout == 0 {
		o.ExpectationTimeout = defaultExpectationTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Controller reconciles Tasks with containers, in the shape of
// kubernetes/sample-controller. It reads two caches it does not own (the
// caller builds and starts the informers) and keeps in memory only the
// expectations that meet the caches' lag and the crash-loop back-off.
type Controller struct {
	store    TaskStore
	runtime  Runtime
	instance string
	opts     Options
	log      *slog.Logger
	metrics  *Metrics

	tasks            cache.Indexer
	containers       cache.Indexer
	tasksSynced      cache.InformerSynced
	containersSynced cache.InformerSynced

	workqueue    workqueue.TypedRateLimitingInterface[string]
	triggers     *triggerBook
	expectations *expectations
	crashes      *crashTracker
	puller       *imagePuller
	prober       *prober
	fence        *fence
	statusWrites *statusWrites

	// syncHandler reconciles one task; a field so tests can drive one
	// sync directly, as sample-controller's tests do.
	syncHandler func(ctx context.Context, name, trigger string) (syncResult, error)

	synced   chan struct{}
	stopping chan struct{}
}

// New wires the controller to its informers and creates the workqueue.
// Nothing runs until Run; the caller starts the informers.
func New(store TaskStore, rt Runtime, tasks cache.SharedIndexInformer, containers *ContainerInformer, opts Options) *Controller {
	opts.setDefaults()
	c := &Controller{
		store:            store,
		runtime:          rt,
		instance:         containers.Instance(),
		opts:             opts,
		log:              opts.Logger,
		metrics:          opts.Metrics,
		tasks:            tasks.GetIndexer(),
		containers:       containers.GetIndexer(),
		tasksSynced:      tasks.HasSynced,
		containersSynced: containers.HasSynced,
		triggers:         newTriggerBook(),
		expectations:     newExpectations(opts.ExpectationTimeout),
		crashes:          newCrashTracker(),
		puller:           newImagePuller(rt),
		fence:            newFence(opts.NodeLease),
		statusWrites:     newStatusWrites(),
		synced:           make(chan struct{}),
		stopping:         make(chan struct{}),
	}
	c.syncHandler = c.sync
	c.prober = newProber(rt, c.enqueueProbe, opts.Metrics, opts.Logger)
	c.workqueue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](opts.RetryBase, opts.RetryMax),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: QueueName, MetricsProvider: opts.QueueMetrics},
	)
	containers.onRelist(c.requeueAll)

	_, _ = tasks.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { c.enqueueTask(obj, triggerAPI) },
		UpdateFunc: func(old, new interface{}) {
			oldTask, newTask := old.(*v1.Task), new.(*v1.Task)
			switch {
			case oldTask.ResourceVersion == newTask.ResourceVersion:
				c.enqueueTask(new, triggerResync)
			case statusOnly(oldTask, newTask):
				// cubelet's own status write: nothing the user asked for
				// changed, unless a sync waits for the cache to show it.
				if c.expectations.statusObserved(newTask.Name, newTask.ResourceVersion) {
					c.workqueue.Add(newTask.Name)
				}
			default:
				c.enqueueTask(new, triggerAPI)
			}
		},
		DeleteFunc: func(obj interface{}) { c.enqueueTask(obj, triggerAPI) },
	})
	_, _ = containers.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.enqueueContainer(obj, false) },
		UpdateFunc: func(_, new interface{}) { c.enqueueContainer(new, false) },
		DeleteFunc: func(obj interface{}) { c.enqueueContainer(obj, true) },
	})
	return c
}

// statusOnly reports whether an update changed nothing but the status,
// which only the controller writes.
func statusOnly(old, new *v1.Task) bool {
	return old.Generation == new.Generation &&
		old.DeletionTimestamp.Equal(new.DeletionTimestamp) &&
		equality.Semantic.DeepEqual(old.Labels, new.Labels) &&
		equality.Semantic.DeepEqual(old.Finalizers, new.Finalizers)
}

// Run waits for the informers' caches, runs workers reconcile goroutines
// and blocks until ctx ends. It then stops taking work, lets the in-flight
// reconciles finish and returns. Containers keep running.
func (c *Controller) Run(ctx context.Context, workers int) error {
	defer utilruntime.HandleCrash()
	// ShutDown, not only ShutDownWithDrain, stops the delaying queue's
	// goroutines; calling it again after a drain is harmless.
	defer c.workqueue.ShutDown()
	// Probes stop with the controller; the containers keep running.
	defer c.prober.stopAll()

	c.log.Info("starting controller", "instance", c.instance, "workers", workers)
	// The fence follows the lease from the start, caches synced or not:
	// it reads the engine, not the caches, to stop containers.
	fenceDone := make(chan struct{})
	fenceCtx, stopFence := context.WithCancel(ctx)
	go func() {
		defer close(fenceDone)
		c.runFence(fenceCtx)
	}()
	defer func() {
		stopFence()
		<-fenceDone
	}()
	if !waitForCacheSync(ctx, c.tasksSynced, c.containersSynced) {
		return errors.New("failed to wait for caches to sync")
	}
	close(c.synced)
	c.log.Info("caches synced", "tasks", len(c.tasks.ListKeys()), "containers", len(c.containers.ListKeys()))

	// Workers get a context that outlives ctx: a reconcile in flight at
	// shutdown finishes its Docker calls instead of leaving them half done,
	// for at most DrainTimeout.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.runWorker(workCtx)
		}()
	}
	<-ctx.Done()
	close(c.stopping)
	c.log.Info("shutting down: draining in-flight reconciles", "timeout", c.opts.DrainTimeout)
	drainTimer := time.AfterFunc(c.opts.DrainTimeout, cancelWork)
	defer drainTimer.Stop()
	c.workqueue.ShutDownWithDrain()
	wg.Wait()
	c.statusWrites.wait()
	c.log.Info("controller stopped")
	return nil
}

// Synced is closed once both caches have synced.
func (c *Controller) Synced() <-chan struct{} { return c.synced }

// runWorker processes work items until the queue shuts down.
func (c *Controller) runWorker(ctx context.Context) {
	for c.processNextWorkItem(ctx) {
	}
}

// processNextWorkItem is the only place that touches Get, Done, Forget and
// AddRateLimited.
func (c *Controller) processNextWorkItem(ctx context.Context) bool {
	name, shutdown := c.workqueue.Get()
	if shutdown {
		return false
	}
	defer c.workqueue.Done(name)
	select {
	case <-c.stopping:
		// Shutting down: finish what is in flight, start nothing new.
		return false
	default:
	}

	trigger := c.triggers.take(name)
	result, err := c.syncHandler(ctx, name, trigger)
	switch {
	case err != nil:
		c.triggers.add(name, triggerRetry)
		c.workqueue.AddRateLimited(name)
		var reported *reportedError
		if errors.As(err, &reported) {
			c.log.Debug("reconcile failed, requeued", "task", name)
		} else {
			c.log.Warn("reconcile failed, requeued", "task", name, "error", err)
		}
	case result.requeueAfter > 0:
		if !result.handedOver {
			c.workqueue.Forget(name)
		}
		if result.waited {
			c.triggers.add(name, trigger)
		} else {
			c.triggers.add(name, triggerBackoff)
		}
		c.workqueue.AddAfter(name, result.requeueAfter)
	case !result.handedOver:
		c.workqueue.Forget(name)
	}
	return true
}

func (c *Controller) enqueueTask(obj interface{}, trigger string) {
	c.fence.taskEvent()
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		c.log.Warn("cannot key task", "error", err)
		return
	}
	c.triggers.add(key, trigger)
	c.workqueue.Add(key)
}

// requeueAll queues every task now, dropping its back-off: after a relist
// of the engine (a reconnect, a resync) each task deserves a fresh look,
// including those that were failing only because the engine was away.
func (c *Controller) requeueAll() {
	for _, name := range c.tasks.ListKeys() {
		c.workqueue.Forget(name)
		c.triggers.add(name, triggerRelist)
		c.workqueue.Add(name)
	}
}

// enqueueProbe queues a task whose probe verdict changed, as an event does.
func (c *Controller) enqueueProbe(name, trigger string) {
	c.triggers.add(name, trigger)
	c.workqueue.Add(name)
}

// enqueueContainer feeds the expectations with what the cache now shows of
// a container and enqueues the task it belongs to.
func (c *Controller) enqueueContainer(obj interface{}, gone bool) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	oc, ok := obj.(*ObservedContainer)
	if !ok {
		return
	}
	name := oc.Labels[LabelTask]
	if name == "" || !ownedBy(c.instance, &oc.Container) {
		return
	}
	c.expectations.containerObserved(name, &oc.Container, gone)
	trigger := triggerRelist
	if oc.LastEvent != "" {
		trigger = triggerDockerEvent + ":" + string(oc.LastEvent)
	}
	c.triggers.add(name, trigger)
	c.workqueue.Add(name)
}
