package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
)

// Watch implements Interface. From "" or "0" it sends an ADDED event per
// task of a list at some revision R, then every change after R; from a
// revision N, every change after N that etcd still has. N older than
// etcd's compaction is 410 Expired, at once when the compaction is seen
// before the watch starts, otherwise as an ERROR event holding the same
// 410 Status (a compaction racing the call), after which the stream
// ends: either way the reflector relists. A revision not yet reached is
// waited for.
func (e *Etcd) Watch(ctx context.Context, resourceVersion string) (watch.Interface, error) {
	return e.watch(ctx, resourceVersion, filter{})
}

// WatchSelected implements Interface. Besides the BOOKMARKs the bbolt
// store sends (after a snapshot, in place of filtered-out events), etcd's
// progress notifications come as BOOKMARKs at their revision: the store
// asks for one every ProgressInterval while such a watch is open.
func (e *Etcd) WatchSelected(ctx context.Context, resourceVersion string, selector labels.Selector) (watch.Interface, error) {
	if selector == nil {
		selector = labels.Everything()
	}
	return e.watch(ctx, resourceVersion, filter{selector: selector, progress: true})
}

func (e *Etcd) watch(ctx context.Context, resourceVersion string, f filter) (watch.Interface, error) {
	if err := e.usable(ctx); err != nil {
		return nil, fmt.Errorf("watch tasks: %w", err)
	}
	var initial []watch.Event
	var after int64
	if resourceVersion == "" || resourceVersion == "0" {
		selector := f.selector
		if selector == nil {
			selector = labels.Everything()
		}
		for {
			rev, tasks, err := e.listAt(ctx, 0, selector)
			if errors.Is(err, rpctypes.ErrCompacted) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("watch tasks: %w", err)
			}
			initial = make([]watch.Event, len(tasks), len(tasks)+1)
			for i := range tasks {
				initial[i] = watch.Event{Type: watch.Added, Object: &tasks[i]}
			}
			if f.progress {
				initial = append(initial, watch.Event{Type: watch.Bookmark, Object: bookmarkTask(rev)})
			}
			after = rev
			break
		}
	} else {
		var err error
		if after, err = parseRevision(resourceVersion); err != nil {
			return nil, err
		}
		if err := e.checkWatchable(ctx, after); err != nil {
			return nil, fmt.Errorf("watch tasks from %d: %w", after, err)
		}
	}

	// Without a leader the member may be partitioned away and its watch
	// silently stale: require one, so the stream ends instead.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithRev(after + 1), clientv3.WithPrevKV()}
	if f.progress {
		opts = append(opts, clientv3.WithProgressNotify())
	}
	w := &etcdWatcher{
		store:       e,
		ctx:         ctx,
		cancel:      cancel,
		filter:      f,
		after:       after,
		buffer:      e.opts.WatchBuffer,
		queue:       initial,
		initialLeft: len(initial),
		result:      make(chan watch.Event),
		stop:        make(chan struct{}),
	}
	e.mu.Lock()
	select {
	case <-e.closing:
		e.mu.Unlock()
		cancel()
		return nil, fmt.Errorf("watch tasks: %w", ErrClosed)
	default:
	}
	e.watchers[w] = struct{}{}
	e.running.Add(1)
	e.mu.Unlock()
	if f.progress {
		e.progress.add()
	}
	wch := e.client.Watch(wctx, e.tasks, opts...)
	go w.run(wch)
	return w, nil
}

// checkWatchable answers 410 Expired when events after rev were
// compacted away. A read at rev+1, the watch's first revision, fails
// exactly then. It is made only when rev is behind the current revision:
// a reflector watches from the revision it just listed at, and a read of
// a future revision fails (and the client logs a warning for it), when
// such a watch simply waits.
func (e *Etcd) checkWatchable(ctx context.Context, rev int64) error {
	now, err := e.client.Get(ctx, e.tasks, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return err
	}
	if rev >= now.Header.Revision {
		return nil
	}
	_, err = e.client.Get(ctx, e.tasks, clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithRev(rev+1))
	if errors.Is(err, rpctypes.ErrCompacted) {
		return compacted(rev)
	}
	return err
}

// compacted is the 410 of a watch from rev after etcd compacted past it.
func compacted(rev int64) *apierrors.StatusError {
	return apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (compacted)", rev))
}

// etcdWatcher is one Watch call: run turns etcd's watch responses into
// events, queues them and sends them on result, alone (it also closes
// it).
type etcdWatcher struct {
	store  *Etcd
	ctx    context.Context
	cancel context.CancelFunc // ends the etcd watch
	filter filter
	after  int64 // the revision of the last event sent or queued
	buffer int

	queue       []watch.Event
	initialLeft int

	result   chan watch.Event
	stop     chan struct{}
	stopOnce sync.Once
}

// ResultChan implements watch.Interface.
func (w *etcdWatcher) ResultChan() <-chan watch.Event {
	return w.result
}

// Stop implements watch.Interface. It may be called any number of times;
// the result channel is closed soon after.
func (w *etcdWatcher) Stop() {
	w.halt()
}

func (w *etcdWatcher) halt() {
	w.stopOnce.Do(func() {
		close(w.stop)
		w.cancel()
	})
}

// run receives from etcd and sends to the consumer in one loop, queueing
// in between, so that a slow consumer never holds up the etcd client's
// stream (it buffers without bound): more than buffer queued live events
// close the watch, and the consumer re-watches from its last
// resourceVersion, as with the bbolt store.
func (w *etcdWatcher) run(wch clientv3.WatchChan) {
	defer func() {
		w.halt()
		if w.filter.progress {
			w.store.progress.remove()
		}
		w.store.mu.Lock()
		delete(w.store.watchers, w)
		w.store.mu.Unlock()
		close(w.result)
		w.store.running.Done()
	}()
	ended := false // no more responses will be taken from etcd
	for {
		if ended && len(w.queue) == 0 {
			return
		}
		var out chan<- watch.Event
		var next watch.Event
		if len(w.queue) > 0 {
			out, next = w.result, w.queue[0]
		}
		in := wch
		if ended {
			in = nil
		}
		select {
		case resp, ok := <-in:
			if !ok {
				// The watch's context ended, or the client closed.
				return
			}
			ended = w.take(resp)
			if len(w.queue)-w.initialLeft > w.buffer {
				return
			}
		case out <- next:
			w.queue[0] = watch.Event{}
			w.queue = w.queue[1:]
			if w.initialLeft > 0 {
				w.initialLeft--
			}
		case <-w.stop:
			return
		case <-w.ctx.Done():
			return
		}
	}
}

// take queues what resp means for the consumer and reports whether the
// stream ends with it: a compaction (410, so the reflector relists), a
// lost leader or any other failure of the etcd watch, or a record that
// does not decode, which is sent as an error and never as a task.
func (w *etcdWatcher) take(resp clientv3.WatchResponse) bool {
	if err := resp.Err(); err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			w.fail(compacted(w.after))
		} else {
			w.fail(apierrors.NewInternalError(fmt.Errorf("etcd watch: %w", err)))
		}
		return true
	}
	if resp.IsProgressNotify() {
		// etcd sends progress only to a watcher that has sent everything
		// up to the revision. Watch sends no bookmarks; nor does any
		// stream for a revision it has already passed (a watch from a
		// future revision hears of the present).
		if w.filter.progress && resp.Header.Revision > w.after {
			w.after = resp.Header.Revision
			w.queue = append(w.queue, watch.Event{Type: watch.Bookmark, Object: bookmarkTask(w.after)})
		}
		return false
	}
	for _, ev := range resp.Events {
		e, err := w.store.event(ev)
		if err != nil {
			w.fail(apierrors.NewInternalError(err))
			return true
		}
		w.after = e.rev
		out, send, err := w.filter.present(e)
		if err != nil {
			w.fail(apierrors.NewInternalError(err))
			return true
		}
		if send {
			w.queue = append(w.queue, out)
		}
	}
	return false
}

func (w *etcdWatcher) fail(err apierrors.APIStatus) {
	status := err.Status()
	w.queue = append(w.queue, watch.Event{Type: watch.Error, Object: &status})
}

// event is the store's view of one etcd event: the task after it (for a
// deletion, the task as last stored) at the event's revision, and the
// labels before it for selecting watchers.
func (e *Etcd) event(ev *clientv3.Event) (event, error) {
	rev := ev.Kv.ModRevision
	var prev map[string]string
	if !ev.IsCreate() {
		if ev.PrevKv == nil {
			return event{}, fmt.Errorf("etcd event at %d on %q: previous value missing", rev, ev.Kv.Key)
		}
		p, err := e.decodeValue(ev.PrevKv.Key, ev.PrevKv.Value)
		if err != nil {
			return event{}, err
		}
		prev = p.Labels
		if ev.Type == mvccpb.DELETE {
			p.ResourceVersion = formatRevision(rev)
			return event{typ: watch.Deleted, obj: p, prevLabels: prev, rev: rev}, nil
		}
	}
	t, err := e.decode(ev.Kv)
	if err != nil {
		return event{}, err
	}
	typ := watch.Modified
	if ev.IsCreate() {
		typ = watch.Added
	}
	return event{typ: typ, obj: t, prevLabels: prev, rev: rev}, nil
}

// progressRequester asks etcd for a progress notification every
// interval while at least one watch wants bookmarks. etcd's own periodic
// notification is a server setting (ten minutes by default), too rare
// for a consumer that resumes from its last bookmark; Kubernetes' API
// server requests progress itself for the same reason.
type progressRequester struct {
	client   *clientv3.Client
	interval time.Duration
	closing  <-chan struct{}

	mu   sync.Mutex
	n    int
	done chan struct{}
}

func newProgressRequester(client *clientv3.Client, interval time.Duration, closing <-chan struct{}) *progressRequester {
	p := &progressRequester{client: client, interval: interval, closing: closing, done: make(chan struct{})}
	go p.run()
	return p
}

func (p *progressRequester) add() {
	p.mu.Lock()
	p.n++
	p.mu.Unlock()
}

func (p *progressRequester) remove() {
	p.mu.Lock()
	p.n--
	p.mu.Unlock()
}

func (p *progressRequester) wait() {
	<-p.done
}

func (p *progressRequester) run() {
	defer close(p.done)
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for {
		select {
		case <-p.closing:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		wanted := p.n > 0
		p.mu.Unlock()
		if !wanted {
			continue
		}
		// The client groups watches into streams by the context's
		// metadata: the request must carry the same as the watches
		// (WithRequireLeader) to reach them.
		ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(context.Background()), p.interval)
		// A failed request only delays a bookmark to the next tick.
		_ = p.client.RequestProgress(ctx)
		cancel()
	}
}
