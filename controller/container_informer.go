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

// newContainerInformer returns a SharedIndexInformer over the engine's
// managed containers.
func newContainerInformer(lw *containerListerWatcher) cache.SharedIndexInformer {
	return cache.NewSharedIndexInformerWithOptions(lw, &ObservedContainer{}, cache.SharedIndexInformerOptions{
		Indexers:          cache.Indexers{indexByTask: taskIndexFunc},
		ObjectDescription: "docker containers",
	})
}

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
	runtime Runtime
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

	revision atomic.Int64
	mu       sync.Mutex
	pending  *subscription
}

type subscription struct {
	revision string
	events   <-chan runtime.Event
	errs     <-chan error
	cancel   context.CancelFunc
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
	subCtx, cancel := context.WithCancel(lw.base)
	events, errs := lw.runtime.Events(subCtx, LabelManaged, managedValue)
	containers, err := lw.runtime.ListContainers(ctx, LabelManaged, managedValue)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("list managed containers: %w", err)
	}
	rv := lw.nextRevision()
	list := &ObservedContainerList{ListMeta: metav1.ListMeta{ResourceVersion: rv}}
	list.Items = make([]ObservedContainer, 0, len(containers))
	for _, c := range containers {
		list.Items = append(list.Items, *newObservedContainer(c, rv, ""))
	}
	lw.mu.Lock()
	if lw.pending != nil {
		lw.pending.cancel()
	}
	lw.pending = &subscription{revision: rv, events: events, errs: errs, cancel: cancel}
	lw.mu.Unlock()
	lw.metrics.observeRelist()
	lw.log.Debug("listed containers", "count", len(containers), "revision", rv)
	return list, nil
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
	backlog := newEventBacklog()
	go w.drain(sub, backlog)
	var lastResume time.Time
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
		case <-backlog.ready:
			events, ended, err := backlog.take()
			for _, ev := range events {
				w.lw.metrics.observeEvent(ev.Action)
				if out, ok := w.observe(ctx, ev); ok && !w.send(out) {
					return
				}
			}
			if !ended {
				continue
			}
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return
			}
			w.lw.metrics.observeStreamDrop()
			w.lw.log.Warn("docker event stream ended: will reconnect and relist", "error", err)
			next, ok := w.resume(ctx, lastResume)
			lastResume = time.Now()
			if !ok {
				// The engine is not answering: let the reflector relist
				// with its back-off.
				w.send(expiredEvent("event stream ended"))
				return
			}
			sub.cancel()
			sub = next
			backlog = newEventBacklog()
			go w.drain(sub, backlog)
		}
	}
}

// resume resubscribes, then relists, in place: every listed container is
// sent as Modified and every cached one the engine no longer has as
// Deleted, so the watch goes on without waiting for the reflector's relist
// back-off. It reports false when the engine does not answer, or when the
// last resume was under a second ago (a stream that keeps breaking is left
// to the reflector's back-off rather than retried hot).
func (w *containerWatch) resume(ctx context.Context, lastResume time.Time) (*subscription, bool) {
	if time.Since(lastResume) < time.Second {
		return nil, false
	}
	subCtx, cancel := context.WithCancel(w.lw.base)
	events, errs := w.lw.runtime.Events(subCtx, LabelManaged, managedValue)
	containers, err := w.lw.runtime.ListContainers(ctx, LabelManaged, managedValue)
	if err != nil {
		cancel()
		w.lw.log.Warn("relist after the event stream ended failed: the informer will relist", "error", err)
		return nil, false
	}
	w.lw.metrics.observeRelist()
	rv := w.lw.nextRevision()
	listed := make(map[string]bool, len(containers))
	for _, c := range containers {
		listed[c.ID] = true
		if !w.send(watch.Event{Type: watch.Modified, Object: newObservedContainer(c, rv, "")}) {
			cancel()
			return nil, false
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
				cancel()
				return nil, false
			}
			gone++
		}
	}
	w.lw.log.Info("listed containers", "count", len(containers), "gone", gone, "revision", rv, "resubscribed", true)
	return &subscription{revision: rv, events: events, errs: errs, cancel: cancel}, true
}

// drain moves the engine's events into the backlog as fast as they come.
func (w *containerWatch) drain(sub *subscription, backlog *eventBacklog) {
	for {
		select {
		case <-w.done:
			return
		case err := <-sub.errs:
			// Events sent before the error may still be buffered.
			for {
				select {
				case ev, ok := <-sub.events:
					if ok {
						backlog.add(ev)
						continue
					}
				default:
				}
				break
			}
			backlog.end(err)
			return
		case ev, ok := <-sub.events:
			if !ok {
				backlog.end(errors.New("event stream closed"))
				return
			}
			backlog.add(ev)
		}
	}
}

// observe inspects the container an event is about.
func (w *containerWatch) observe(ctx context.Context, ev runtime.Event) (watch.Event, bool) {
	rv := w.lw.nextRevision()
	gone := &ObservedContainer{ObjectMeta: metav1.ObjectMeta{Name: ev.ContainerID, Labels: ev.Labels, ResourceVersion: rv}, LastEvent: ev.Action}
	gone.Container.ID = ev.ContainerID
	gone.Container.Labels = ev.Labels
	if ev.Action == runtime.EventDestroy {
		return watch.Event{Type: watch.Deleted, Object: gone}, true
	}
	c, err := w.lw.runtime.InspectContainer(ctx, ev.ContainerID)
	switch {
	case errors.Is(err, runtime.ErrNotFound):
		return watch.Event{Type: watch.Deleted, Object: gone}, true
	case err != nil:
		// The next relist repairs what this event would have told.
		w.lw.log.Warn("inspect container after event", "container", ev.ContainerID, "event", ev.Action, "error", err)
		return watch.Event{}, false
	}
	return watch.Event{Type: watch.Modified, Object: newObservedContainer(c, rv, ev.Action)}, true
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
