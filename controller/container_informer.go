package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/cubelet/cubelet/runtime"
)

// indexByTask indexes observed containers by their task label.
const indexByTask = "task"

// ContainerInformer is a SharedIndexInformer over the engine's containers
// of one cubelet instance: it lists, watches and relists only containers
// labelled io.cubelet.instance=<instance>. Containers of other instances
// are counted and logged, never cached.
type ContainerInformer struct {
	cache.SharedIndexInformer
	lw *containerListerWatcher
}

// ContainerInformerOptions tune NewContainerInformer.
type ContainerInformerOptions struct {
	// Resync is the safety-net period: the container watch is re-listed
	// this often.
	Resync  time.Duration
	Logger  *slog.Logger
	Metrics *Metrics
}

// NewContainerInformer returns the informer over instance's containers on
// rt. The caller runs it (RunWithContext).
func NewContainerInformer(rt Runtime, instance string, opts ContainerInformerOptions) *ContainerInformer {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	lw := &containerListerWatcher{runtime: rt, instance: instance, resync: opts.Resync, log: opts.Logger,
		metrics: opts.Metrics, base: context.Background(), foreign: map[string]bool{}}
	informer := cache.NewSharedIndexInformerWithOptions(lw, &ObservedContainer{}, cache.SharedIndexInformerOptions{
		Indexers:          cache.Indexers{indexByTask: taskIndexFunc},
		ObjectDescription: "docker containers",
	})
	lw.cached = informer.GetStore()
	return &ContainerInformer{SharedIndexInformer: informer, lw: lw}
}

// Instance is the identity whose containers the informer holds.
func (i *ContainerInformer) Instance() string { return i.lw.instance }

// RunWithContext runs the informer until ctx ends; event subscriptions live
// as long as ctx.
func (i *ContainerInformer) RunWithContext(ctx context.Context) {
	i.lw.base = ctx
	i.SharedIndexInformer.RunWithContext(ctx)
}

// onRelist sets the function called after every full list of the engine.
// It must be set before the informer runs.
func (i *ContainerInformer) onRelist(f func()) { i.lw.onRelist = f }

func taskIndexFunc(obj interface{}) ([]string, error) {
	c, ok := obj.(*ObservedContainer)
	if !ok {
		return nil, nil
	}
	if name := c.Labels[LabelTask]; name != "" {
		return []string{name}, nil
	}
	return nil, nil
}

// containerListerWatcher adapts the engine's ContainerList and Events API to
// client-go's ListerWatcher.
//
// Docker's event stream is a hint, not a ledger: it replays little after a
// reconnect, forgets on restart and drops slow subscribers. So List first
// subscribes to events and only then lists, handing the subscription to the
// Watch that follows; any other Watch (after a dropped stream, or after
// resync has expired the current one) is refused as Expired, which makes the
// reflector relist: every reconnect is a fresh subscribe-then-list.
type containerListerWatcher struct {
	runtime  Runtime
	instance string
	// resync bounds a watch's life: when it ends the reflector relists,
	// the safety net for events Docker never delivered.
	resync  time.Duration
	log     *slog.Logger
	metrics *Metrics

	// base is the controller's context; subscriptions outlive List calls.
	base context.Context
	// cached is the informer's store, read to tell which containers went
	// away while the event stream was down.
	cached cache.Store
	// onRelist, when set, is called after every full list of the engine:
	// tasks without a container (waiting out a back-off while the engine
	// was away) must be looked at again too, not only those whose
	// containers the list touched.
	onRelist func()

	revision atomic.Int64
	mu       sync.Mutex
	pending  *subscription
	// foreign are the managed containers of other instances seen by the
	// last list: each is logged once, when first seen.
	foreign map[string]bool
}

// subscription is one event stream of the engine, drained from the moment
// it is made into its backlog: nothing reads it while containers are being
// listed, and the engine ends subscriptions whose reader lags.
type subscription struct {
	revision string
	backlog  *eventBacklog
	cancel   context.CancelFunc
}

// subscribe opens an event stream for this instance's containers and
// starts draining it. The stream lives until cancel (or until it breaks).
func (lw *containerListerWatcher) subscribe() *subscription {
	ctx, cancel := context.WithCancel(lw.base)
	events, errs := lw.runtime.Events(ctx, LabelInstance, lw.instance)
	sub := &subscription{backlog: newEventBacklog(), cancel: cancel}
	go drain(events, errs, sub.backlog)
	return sub
}

// listOwn lists the managed containers and keeps this instance's; the
// others are foreign: counted, and logged once each.
func (lw *containerListerWatcher) listOwn(ctx context.Context) ([]runtime.Container, error) {
	all, err := lw.runtime.ListContainers(ctx, LabelManaged, managedValue)
	if err != nil {
		return nil, fmt.Errorf("list managed containers: %w", err)
	}
	own := all[:0:0]
	foreign := map[string]bool{}
	lw.mu.Lock()
	defer lw.mu.Unlock()
	for i := range all {
		c := &all[i]
		if ownedBy(lw.instance, c) {
			own = append(own, *c)
			continue
		}
		foreign[c.ID] = true
		if !lw.foreign[c.ID] {
			lw.log.Info("foreign container left alone", "container", c.Name, "instance", c.Labels[LabelInstance], "task", c.Labels[LabelTask])
		}
	}
	lw.foreign = foreign
	lw.metrics.observeForeign(len(foreign))
	return own, nil
}

// drain moves the engine's events into the backlog as fast as they come,
// and the reason the stream ended after the last of them.
func drain(events <-chan runtime.Event, errs <-chan error, backlog *eventBacklog) {
	for {
		select {
		case err := <-errs:
			// Events sent before the error may still be buffered.
			for ev := range events {
				backlog.add(ev)
			}
			backlog.end(err)
			return
		case ev, ok := <-events:
			if !ok {
				// The error is sent before the channels close.
				select {
				case err := <-errs:
					backlog.end(err)
				default:
					backlog.end(errors.New("event stream closed"))
				}
				return
			}
			backlog.add(ev)
		}
	}
}

var _ cache.ListerWatcherWithContext = (*containerListerWatcher)(nil)

// IsWatchListSemanticsUnSupported opts out of client-go's WatchList mode:
// the engine has no notion of a streamed initial list.
func (lw *containerListerWatcher) IsWatchListSemanticsUnSupported() bool { return true }

func (lw *containerListerWatcher) nextRevision() string {
	return strconv.FormatInt(lw.revision.Add(1), 10)
}

func (lw *containerListerWatcher) List(options metav1.ListOptions) (k8sruntime.Object, error) {
	return lw.ListWithContext(lw.base, options)
}

func (lw *containerListerWatcher) Watch(options metav1.ListOptions) (watch.Interface, error) {
	return lw.WatchWithContext(lw.base, options)
}

// ListWithContext subscribes to events, then lists managed containers.
func (lw *containerListerWatcher) ListWithContext(ctx context.Context, _ metav1.ListOptions) (k8sruntime.Object, error) {
	sub := lw.subscribe()
	containers, err := lw.listOwn(ctx)
	if err != nil {
		sub.cancel()
		return nil, err
	}
	rv := lw.nextRevision()
	sub.revision = rv
	list := &ObservedContainerList{ListMeta: metav1.ListMeta{ResourceVersion: rv}}
	list.Items = make([]ObservedContainer, 0, len(containers))
	for _, c := range containers {
		list.Items = append(list.Items, *newObservedContainer(c, rv, ""))
	}
	lw.mu.Lock()
	if lw.pending != nil {
		lw.pending.cancel()
	}
	lw.pending = sub
	lw.mu.Unlock()
	lw.metrics.observeRelist()
	lw.log.Debug("listed containers", "count", len(containers), "revision", rv)
	lw.relisted()
	return list, nil
}

func (lw *containerListerWatcher) relisted() {
	if lw.onRelist != nil {
		lw.onRelist()
	}
}

// WatchWithContext continues the subscription made by the List at
// options.ResourceVersion, or refuses as Expired so the reflector relists.
func (lw *containerListerWatcher) WatchWithContext(ctx context.Context, options metav1.ListOptions) (watch.Interface, error) {
	lw.mu.Lock()
	sub := lw.pending
	lw.pending = nil
	lw.mu.Unlock()
	if sub == nil || sub.revision != options.ResourceVersion {
		if sub != nil {
			sub.cancel()
		}
		return nil, apierrors.NewResourceExpired("container events must be resubscribed: relist")
	}
	w := &containerWatch{
		lw:     lw,
		sub:    sub,
		result: make(chan watch.Event),
		done:   make(chan struct{}),
	}
	go w.run(ctx)
	return w, nil
}

// containerWatch turns engine events into watch events, inspecting the
// container so the cache holds its full state.
type containerWatch struct {
	lw       *containerListerWatcher
	sub      *subscription
	result   chan watch.Event
	done     chan struct{}
	stopOnce sync.Once
}

func (w *containerWatch) ResultChan() <-chan watch.Event { return w.result }

// Stop ends the watch; run cancels the subscription on its way out.
func (w *containerWatch) Stop() {
	w.stopOnce.Do(func() {
		close(w.done)
	})
}

func (w *containerWatch) run(ctx context.Context) {
	defer close(w.result)
	sub := w.sub
	defer func() { sub.cancel() }()
	var expire <-chan time.Time
	if w.lw.resync > 0 {
		timer := time.NewTimer(w.lw.resync)
		defer timer.Stop()
		expire = timer.C
	}
	var lastResume time.Time
	// reconnect replaces the subscription in place, retrying until the
	// engine answers: ending the watch instead would hand the relist to
	// the reflector, whose back-off grows with every relist (up to 30 s)
	// and resets only after two quiet minutes, so repeated outages would
	// each take longer to repair.
	reconnect := func() bool {
		next, ok := w.resumeUntilUp(ctx, lastResume)
		if !ok {
			return false
		}
		lastResume = time.Now()
		sub.cancel()
		sub = next
		return true
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.done:
			return
		case <-expire:
			w.lw.log.Debug("container watch expired: relisting", "resync", w.lw.resync)
			w.send(expiredEvent("periodic relist"))
			return
		case <-sub.backlog.ready:
			events, ended, err := sub.backlog.take()
			reconnected := false
			for _, ev := range events {
				w.lw.metrics.observeEvent(ev.Action)
				out, err := w.observe(ctx, ev)
				if err != nil {
					// Without this container's state the cache would hold
					// a stale one until the next resync: relist now.
					w.lw.log.Warn("inspect container after event failed: relisting", "container", ev.ContainerID, "event", ev.Action, "error", err)
					if !reconnect() {
						return
					}
					reconnected = true // the relist covers the events left
					break
				}
				if !w.send(out) {
					return
				}
			}
			if reconnected || !ended {
				continue
			}
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return
			}
			w.lw.metrics.observeStreamDrop()
			w.lw.log.Warn("docker event stream ended: will reconnect and relist", "error", err)
			if !reconnect() {
				return
			}
		}
	}
}

// Retry delays of an in-place reconnect while the engine does not answer.
const (
	reconnectFirst = 250 * time.Millisecond
	reconnectMax   = time.Second
)

// resumeUntilUp resumes, retrying with a short capped back-off until the
// engine answers or the watch ends. A stream that broke again within a
// second of the last reconnect waits before resuming, so a stream that
// keeps breaking is not retried hot.
func (w *containerWatch) resumeUntilUp(ctx context.Context, lastResume time.Time) (*subscription, bool) {
	delay := time.Duration(0)
	if time.Since(lastResume) < time.Second {
		delay = time.Second
	}
	for attempt := 0; ; attempt++ {
		if delay > 0 {
			timer := time.NewTimer(delay)
			select {
			case <-timer.C:
			case <-w.done:
				timer.Stop()
				return nil, false
			case <-ctx.Done():
				timer.Stop()
				return nil, false
			}
		}
		sub, err := w.resume(ctx)
		if err == nil {
			return sub, true
		}
		if errors.Is(err, errWatchStopped) {
			return nil, false
		}
		if attempt == 0 {
			w.lw.log.Warn("docker not answering: retrying the relist", "error", err)
		}
		delay = min(max(2*delay, reconnectFirst), reconnectMax)
	}
}

// errWatchStopped: the watch was stopped while resuming.
var errWatchStopped = errors.New("watch stopped")

// resume resubscribes, then relists, in place: every listed container is
// sent as Modified and every cached one the engine no longer has as
// Deleted, so the watch goes on without waiting for the reflector's relist
// back-off. Every task is then looked at again (lw.onRelist).
func (w *containerWatch) resume(ctx context.Context) (*subscription, error) {
	sub := w.lw.subscribe()
	containers, err := w.lw.listOwn(ctx)
	if err != nil {
		sub.cancel()
		return nil, err
	}
	w.lw.metrics.observeRelist()
	rv := w.lw.nextRevision()
	sub.revision = rv
	listed := make(map[string]bool, len(containers))
	for _, c := range containers {
		listed[c.ID] = true
		if !w.send(watch.Event{Type: watch.Modified, Object: newObservedContainer(c, rv, "")}) {
			sub.cancel()
			return nil, errWatchStopped
		}
	}
	gone := 0
	if w.lw.cached != nil {
		for _, obj := range w.lw.cached.List() {
			oc, ok := obj.(*ObservedContainer)
			if !ok || listed[oc.Name] {
				continue
			}
			tombstone := oc.DeepCopy()
			tombstone.ResourceVersion, tombstone.LastEvent = rv, ""
			if !w.send(watch.Event{Type: watch.Deleted, Object: tombstone}) {
				sub.cancel()
				return nil, errWatchStopped
			}
			gone++
		}
	}
	w.lw.log.Info("listed containers", "count", len(containers), "gone", gone, "revision", rv, "resubscribed", true)
	w.lw.relisted()
	return sub, nil
}

// observe inspects the container an event is about.
func (w *containerWatch) observe(ctx context.Context, ev runtime.Event) (watch.Event, error) {
	rv := w.lw.nextRevision()
	gone := &ObservedContainer{ObjectMeta: metav1.ObjectMeta{Name: ev.ContainerID, Labels: ev.Labels, ResourceVersion: rv}, LastEvent: ev.Action}
	gone.Container.ID = ev.ContainerID
	gone.Container.Name = ev.Labels["name"] // Docker adds the name to an event's attributes
	gone.Container.Labels = ev.Labels
	if ev.Action == runtime.EventDestroy {
		return watch.Event{Type: watch.Deleted, Object: gone}, nil
	}
	c, err := w.lw.runtime.InspectContainer(ctx, ev.ContainerID)
	switch {
	case errors.Is(err, runtime.ErrNotFound):
		return watch.Event{Type: watch.Deleted, Object: gone}, nil
	case err != nil:
		return watch.Event{}, fmt.Errorf("inspect container %s after %s: %w", ev.ContainerID, ev.Action, err)
	}
	return watch.Event{Type: watch.Modified, Object: newObservedContainer(c, rv, ev.Action)}, nil
}

func (w *containerWatch) send(ev watch.Event) bool {
	select {
	case w.result <- ev:
		return true
	case <-w.done:
		return false
	}
}

func expiredEvent(why string) watch.Event {
	status := apierrors.NewResourceExpired(why).ErrStatus
	return watch.Event{Type: watch.Error, Object: &status}
}
