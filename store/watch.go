package store

import (
	"context"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// hub fans committed events out to watchers and keeps the replay window.
// The writer publishes each batch under mu after its commit, so watchers
// see events in strictly increasing revision order.
type hub struct {
	mu     sync.Mutex
	window *window
	// readLatest fills in the data of the latest events among evs from
	// the store's current records (see event.latest). It is called with
	// mu held, which keeps the writer from retaining (and so from
	// committing) a newer write of those tasks meanwhile.
	readLatest func(evs []event) error
	watchers   map[*watcher]struct{}
	buffer     int
	closed     bool
	running    sync.WaitGroup // one per watcher goroutine
}

func newHub(windowSize int, windowBytes int64, buffer int, rev int64) *hub {
	return &hub{
		window:   newWindow(windowSize, windowBytes, rev),
		watchers: make(map[*watcher]struct{}),
		buffer:   buffer,
	}
}

// publish retains evs and queues them to every watcher. A watcher that
// cannot take them is dropped rather than waited for.
func (h *hub) publish(evs []event) {
	if len(evs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range evs {
		h.window.add(e)
	}
	for w := range h.watchers {
		if !w.enqueue(evs) {
			delete(h.watchers, w)
			w.halt()
		}
	}
}

// retain hands the window the stored bytes of the task last written at
// rev, which the writer is about to overwrite or delete: data is memory of
// the write transaction, copied only when the window still needs it.
func (h *hub) retain(rev int64, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.window.needs(rev) {
		h.window.retain(rev, append([]byte(nil), data...))
	}
}

// register starts a watcher that sends initial, then every event with a
// revision greater than after: those still in the window, then live ones,
// as f presents them. It fails with 410 Expired when events after after
// were evicted. Under the lock it only copies the window's events; the
// watcher decodes them.
func (h *hub) register(ctx context.Context, after int64, initial []event, f filter) (*watcher, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	replay, ok := h.window.since(after)
	if !ok {
		return nil, tooOld(after, h.window.oldest())
	}
	for _, e := range replay {
		if e.latest {
			if err := h.readLatest(replay); err != nil {
				return nil, err
			}
			break
		}
	}
	w := &watcher{
		hub:         h,
		ctx:         ctx,
		filter:      f,
		after:       after,
		buffer:      h.buffer,
		queue:       append(initial, replay...),
		initialLeft: len(initial) + len(replay),
		result:      make(chan watch.Event),
		wake:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
	}
	h.watchers[w] = struct{}{}
	h.running.Add(1)
	go w.run()
	return w, nil
}

func (h *hub) remove(w *watcher) {
	h.mu.Lock()
	delete(h.watchers, w)
	h.mu.Unlock()
}

// close stops every watcher, refuses new ones and waits for their
// goroutines to end.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	for w := range h.watchers {
		delete(h.watchers, w)
		w.halt()
	}
	h.mu.Unlock()
	h.running.Wait()
}

// watcher is one Watch call. Its events wait in queue, filled by the hub
// and drained by run, which alone sends on (and closes) result.
type watcher struct {
	hub    *hub
	ctx    context.Context
	filter filter
	after  int64 // only events with a greater revision are sent
	buffer int   // how many live events may wait in queue

	mu          sync.Mutex
	queue       []event
	initialLeft int // initial and replayed events still at the head of queue

	result   chan watch.Event
	wake     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
}

// ResultChan implements watch.Interface.
func (w *watcher) ResultChan() <-chan watch.Event {
	return w.result
}

// Stop implements watch.Interface. It may be called any number of times;
// the result channel is closed soon after.
func (w *watcher) Stop() {
	w.halt()
	w.hub.remove(w)
}

func (w *watcher) halt() {
	w.stopOnce.Do(func() { close(w.stop) })
}

// enqueue queues the events of evs newer than w.after. It reports false,
// and queues nothing, when that would put more than w.buffer live events
// in the queue. Called with hub.mu held.
func (w *watcher) enqueue(evs []event) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	fresh := 0
	for _, e := range evs {
		if e.rev > w.after {
			fresh++
		}
	}
	if fresh == 0 {
		return true
	}
	if len(w.queue)-w.initialLeft+fresh > w.buffer {
		w.queue = nil
		return false
	}
	for _, e := range evs {
		if e.rev > w.after {
			w.queue = append(w.queue, e)
		}
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true
}

func (w *watcher) pop() (event, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return event{}, false
	}
	e := w.queue[0]
	w.queue[0] = event{}
	w.queue = w.queue[1:]
	if w.initialLeft > 0 {
		w.initialLeft--
	}
	return e, true
}

// run sends queued events until Stop, the context's end, an overflow or
// the store's Close, then closes the result channel.
func (w *watcher) run() {
	defer w.hub.running.Done()
	defer close(w.result)
	defer w.Stop()
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		e, ok := w.pop()
		if !ok {
			select {
			case <-w.wake:
				continue
			case <-w.stop:
				return
			case <-w.ctx.Done():
				return
			}
		}
		out, send, err := w.filter.present(e)
		if err != nil {
			// Only data the store wrote is in the window, so this is
			// damage in memory; say so and end, never send a guess.
			status := apierrors.NewInternalError(err).ErrStatus
			select {
			case w.result <- watch.Event{Type: watch.Error, Object: &status}:
			case <-w.stop:
			case <-w.ctx.Done():
			}
			return
		}
		if !send {
			continue
		}
		select {
		case w.result <- out:
		case <-w.stop:
			return
		case <-w.ctx.Done():
			return
		}
	}
}

// filter is how a watcher presents events: all of them (a nil selector),
// or those of the tasks a label selector matches, with Kubernetes'
// semantics for a task that crosses the selector: ADDED when it starts to
// match, DELETED when it stops (its object as it is after the write, at
// the write's resourceVersion). With progress, an event filtered out is
// sent as a BOOKMARK at its revision instead, so a consumer's notion of
// "seen up to" still advances.
type filter struct {
	selector labels.Selector
	progress bool
}

func (f filter) present(e event) (watch.Event, bool, error) {
	if e.typ == watch.Bookmark {
		return watch.Event{Type: watch.Bookmark, Object: bookmarkTask(e.rev)}, true, nil
	}
	obj := e.obj.DeepCopy()
	if obj == nil {
		var err error
		if obj, err = decodeTask(e.data); err != nil {
			return watch.Event{}, false, err
		}
		if e.latest && obj.ResourceVersion != formatRevision(e.rev) {
			// hub.register's locking makes this impossible; never send
			// another revision's object under this one.
			return watch.Event{}, false, fmt.Errorf("replay of task %q at revision %d read the record of revision %s", e.name, e.rev, obj.ResourceVersion)
		}
	}
	if f.selector == nil || f.selector.Empty() {
		return watch.Event{Type: e.typ, Object: obj}, true, nil
	}
	before := e.typ != watch.Added && f.selector.Matches(labels.Set(e.prevLabels))
	after := e.typ != watch.Deleted && f.selector.Matches(labels.Set(obj.Labels))
	switch {
	case before && after:
		return watch.Event{Type: watch.Modified, Object: obj}, true, nil
	case after:
		return watch.Event{Type: watch.Added, Object: obj}, true, nil
	case before:
		return watch.Event{Type: watch.Deleted, Object: obj}, true, nil
	case f.progress:
		return watch.Event{Type: watch.Bookmark, Object: bookmarkTask(e.rev)}, true, nil
	default:
		return watch.Event{}, false, nil
	}
}

// bookmarkTask is the object of a BOOKMARK: only the kind and the
// resourceVersion, as Kubernetes sends it.
func bookmarkTask(rev int64) *v1.Task {
	t := &v1.Task{}
	t.APIVersion, t.Kind = v1.APIVersion, v1.KindTask
	t.ResourceVersion = formatRevision(rev)
	return t
}
