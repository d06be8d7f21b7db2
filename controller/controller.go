package controller

import (
	"context"
	"errors"
	"fmt"
	"k8s.io/apimachinery/pkg/api/equality"
	"log/slog"
	"sync"
	"time"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// QueueName names the workqueue; its metrics carry it.
const QueueName = "cubelet_tasks"

// Options tune the controller.
type Options struct {
	// Resync is the safety-net period: the container watch is re-listed
	// and every task re-synced this often.
	Resync time.Duration
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
	// Now is the clock decisions are made with (tests fix it).
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.Resync == 0 {
		o.Resync = 5 * time.Minute
	}
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
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Controller reconciles Tasks with containers, in the shape of
// kubernetes/sample-controller.
type Controller struct {
	store   TaskStore
	runtime Runtime
	opts    Options
	log     *slog.Logger
	metrics *Metrics

	taskInformer      cache.SharedIndexInformer
	containerInformer cache.SharedIndexInformer
	tasksSynced       cache.InformerSynced
	containersSynced  cache.InformerSynced

	workqueue workqueue.TypedRateLimitingInterface[string]
	triggers  *triggerBook
	restarts  *restartTracker
	statuses  *statusExpectations
	puller    *imagePuller

	// lwContext is handed to the listerwatchers; Run sets it.
	taskLW      *taskListerWatcher
	containerLW *containerListerWatcher

	synced   chan struct{}
	stopping chan struct{}
}

// New wires informers and the workqueue. Nothing runs until Run.
func New(store TaskStore, rt Runtime, opts Options) *Controller {
	opts.setDefaults()
	c := &Controller{
		store:    store,
		runtime:  rt,
		opts:     opts,
		log:      opts.Logger,
		metrics:  opts.Metrics,
		triggers: newTriggerBook(),
		restarts: newRestartTracker(),
		statuses: newStatusExpectations(),
		puller:   newImagePuller(rt),
		synced:   make(chan struct{}),
		stopping: make(chan struct{}),
	}
	c.workqueue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](opts.RetryBase, opts.RetryMax),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: QueueName, MetricsProvider: opts.QueueMetrics},
	)
	c.taskLW = &taskListerWatcher{store: store, base: context.Background()}
	c.containerLW = &containerListerWatcher{runtime: rt, resync: opts.Resync, log: c.log, metrics: c.metrics, base: context.Background()}
	c.taskInformer = newTaskInformer(c.taskLW, opts.Resync)
	c.containerInformer = newContainerInformer(c.containerLW)
	c.containerLW.cached = c.containerInformer.GetStore()
	c.containerLW.onRelist = c.requeueAll
	c.tasksSynced = c.taskInformer.HasSynced
	c.containersSynced = c.containerInformer.HasSynced

	_, _ = c.taskInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { c.enqueueTask(obj, triggerAPI) },
		UpdateFunc: func(old, new interface{}) {
			oldTask, newTask := old.(*v1.Task), new.(*v1.Task)
			switch {
			case oldTask.ResourceVersion == newTask.ResourceVersion:
				c.enqueueTask(new, triggerResync)
			case statusOnly(oldTask, newTask):
				// cubelet's own status write: nothing the user asked for
				// changed. Enqueueing it would also let a failing sync
				// that records its failure retry at once, around the
				// queue's back-off.
			default:
				c.enqueueTask(new, triggerAPI)
			}
		},
		DeleteFunc: func(obj interface{}) { c.enqueueTask(obj, triggerAPI) },
	})
	_, _ = c.containerInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.enqueueContainer(obj) },
		UpdateFunc: func(_, new interface{}) { c.enqueueContainer(new) },
		DeleteFunc: func(obj interface{}) { c.enqueueContainer(obj) },
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

// Run starts the informers, waits for their caches, runs workers reconcile
// goroutines and blocks until ctx ends. It then stops taking work, lets the
// in-flight reconciles finish and returns. Containers keep running.
func (c *Controller) Run(ctx context.Context, workers int) error {
	defer utilruntime.HandleCrash()

	informerCtx, stopInformers := context.WithCancel(ctx)
	defer stopInformers()
	c.taskLW.base = informerCtx
	c.containerLW.base = informerCtx

	c.log.Info("starting controller", "workers", workers, "resync", c.opts.Resync)
	var informers sync.WaitGroup
	informers.Add(2)
	go func() { defer informers.Done(); c.taskInformer.RunWithContext(informerCtx) }()
	go func() { defer informers.Done(); c.containerInformer.RunWithContext(informerCtx) }()

	if !cache.WaitForCacheSync(ctx.Done(), c.tasksSynced, c.containersSynced) {
		c.workqueue.ShutDown()
		informers.Wait()
		return errors.New("failed to wait for caches to sync")
	}
	close(c.synced)
	c.log.Info("caches synced", "tasks", len(c.taskInformer.GetStore().ListKeys()),
		"containers", len(c.containerInformer.GetStore().ListKeys()))

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
	stopInformers()
	informers.Wait()
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
		utilruntime.HandleErrorWithContext(ctx, err, "reconcile failed, requeued", "task", name)
	case result.requeueAfter > 0:
		c.workqueue.Forget(name)
		if result.waited {
			c.triggers.add(name, trigger)
		} else {
			c.triggers.add(name, triggerBackoff)
		}
		c.workqueue.AddAfter(name, result.requeueAfter)
	default:
		c.workqueue.Forget(name)
	}
	return true
}

func (c *Controller) enqueueTask(obj interface{}, trigger string) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("key for task: %w", err))
		return
	}
	c.triggers.add(key, trigger)
	c.workqueue.Add(key)
}

// requeueAll queues every task now, dropping its back-off: after a relist
// of the engine (a reconnect, a resync) each task deserves a fresh look,
// including those that were failing only because the engine was away.
func (c *Controller) requeueAll() {
	for _, name := range c.taskInformer.GetStore().ListKeys() {
		c.workqueue.Forget(name)
		c.triggers.add(name, triggerRelist)
		c.workqueue.Add(name)
	}
}

// enqueueContainer enqueues the task a container belongs to.
func (c *Controller) enqueueContainer(obj interface{}) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	oc, ok := obj.(*ObservedContainer)
	if !ok {
		return
	}
	name := oc.Labels[LabelTask]
	if name == "" || oc.Labels[LabelManaged] != managedValue {
		return
	}
	trigger := triggerRelist
	if oc.LastEvent != "" {
		trigger = triggerDockerEvent + ":" + string(oc.LastEvent)
	}
	c.triggers.add(name, trigger)
	c.workqueue.Add(name)
}
