package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// writeRequest is one write waiting for the writer goroutine.
type writeRequest struct {
	ctx    context.Context
	op     string // for error context: "create", "update", ...
	name   string
	mutate mutation
	// splice, when set, is tried before mutate: a status write that needs
	// no decode of the stored task.
	splice *statusSplice
	reply  chan writeReply // buffered: the writer never waits for a caller
}

type writeReply struct {
	obj *v1.Task
	err error
}

// errNothingWritten rolls back a batch in which every request was a no-op
// or failed, sparing the fsync of an empty commit.
var errNothingWritten = errors.New("nothing written")

// submit hands one write to the writer and waits for its answer. When ctx
// ends first the write may still be committed, as with any remote store.
func (b *Bolt) submit(ctx context.Context, op, name string, m mutation) (*v1.Task, error) {
	return b.send(ctx, &writeRequest{ctx: ctx, op: op, name: name, mutate: m})
}

// send is submit of a request made by the caller.
func (b *Bolt) send(ctx context.Context, req *writeRequest) (*v1.Task, error) {
	op, name := req.op, req.name
	req.reply = make(chan writeReply, 1)
	select {
	case b.requests <- req:
	case <-ctx.Done():
		return nil, fmt.Errorf("%s task %q: %w", op, name, ctx.Err())
	case <-b.closing:
		return nil, fmt.Errorf("%s task %q: %w", op, name, ErrClosed)
	}
	select {
	case r := <-req.reply:
		// The object is published (watchers and the window share it):
		// the caller gets its own copy, made here rather than on the
		// single writer.
		return r.obj.DeepCopy(), r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%s task %q: %w", op, name, ctx.Err())
	}
}

// write is the single writer goroutine: group commit. It takes one
// request, drains every other request already waiting (up to MaxBatch),
// and commits them all in one bolt transaction, so N concurrent writers
// pay for one fsync instead of N. Being alone to write, it also assigns
// revisions and publishes events in order without further locking.
//
// When writes have been coming from many callers, it lingers for the
// rest of them before committing (see gather): callers answered by one
// commit come back with their next write a moment apart, and without the
// wait the first of them would go alone, the others each waiting a whole
// commit for the next one. (Issue 14: the controller's 16 workers, whose
// status writes went out in commits of 5 on average.)
//
// bbolt's own db.Batch was not used: it retries a failing function alone
// and gives no hook between commit and return, where events must be
// published in revision order; and it waits a fixed 10 ms.
func (b *Bolt) write() {
	defer close(b.writerDone)
	batch := make([]*writeRequest, 0, b.opts.MaxBatch)
	var g gather
	for {
		select {
		case req := <-b.requests:
			batch = append(batch[:0], req)
		case <-b.closing:
			return
		}
	drain:
		for len(batch) < b.opts.MaxBatch {
			select {
			case req := <-b.requests:
				batch = append(batch, req)
			default:
				break drain
			}
		}
		batch = g.linger(b, batch)
		start := time.Now()
		b.commit(batch)
		g.committed(len(batch), time.Since(start))
		clear(batch)
	}
}

// gather is the writer's notion of how many callers write at once: the
// largest batch of the last gatherWindow commits, and how long the last
// commit took.
type gather struct {
	peak, next int // peak of the current window, and of the one before
	commits    int
	took       time.Duration
	timer      *time.Timer
}

const (
	// gatherWindow is how many commits a peak of concurrency is
	// remembered for.
	gatherWindow = 64
	// maxLinger caps the wait for more writes in all, and lingerGap the
	// wait for each next one: callers that come back in a stream (the
	// controller's workers) are gathered, sparse ones (HTTP clients, each
	// a round trip away) are not waited for long.
	maxLinger = time.Millisecond
	lingerGap = 200 * time.Microsecond
)

// linger waits, when writes have come from many callers lately, until
// batch is as large as the recent peak, or no write came for lingerGap,
// or half the last commit's time has passed (at most maxLinger), and
// returns batch with what came. A single writer (peak 1) never waits.
func (g *gather) linger(b *Bolt, batch []*writeRequest) []*writeRequest {
	want := min(max(g.peak, g.next), b.opts.MaxBatch)
	if len(batch) >= want || g.took <= 0 {
		return batch
	}
	deadline := time.Now().Add(min(g.took/2, maxLinger))
	if g.timer == nil {
		g.timer = time.NewTimer(time.Hour)
	}
	defer g.timer.Stop()
	for len(batch) < want {
		wait := min(time.Until(deadline), lingerGap)
		if wait <= 0 {
			return batch
		}
		g.timer.Reset(wait)
		select {
		case req := <-b.requests:
			batch = append(batch, req)
		case <-g.timer.C:
			return batch
		case <-b.closing:
			return batch
		}
	}
	return batch
}

func (g *gather) committed(n int, took time.Duration) {
	g.peak = max(g.peak, n)
	g.took = took
	if g.commits++; g.commits == gatherWindow {
		g.next, g.peak, g.commits = g.peak, 0, 0
	}
}

// commit applies batch in one transaction. Each request succeeds or fails
// on its own; only a failing commit fails them all. Events are published
// after the commit and before any caller is answered, so a caller that
// watches from the revision it got back never misses its own write.
func (b *Bolt) commit(batch []*writeRequest) {
	replies := make([]writeReply, len(batch))
	var events []event
	now := b.opts.Now()
	err := b.db.Update(func(tx *bolt.Tx) error {
		rev, err := readRevision(tx)
		if err != nil {
			return err
		}
		tasks := tx.Bucket([]byte(tasksBucket))
		for i, req := range batch {
			out, prev, err := apply(tx, req, rev+1, now)
			if err != nil {
				replies[i].err = err
				continue
			}
			replies[i].obj = out.obj
			if out.event == "" {
				continue
			}
			if prev.data != nil {
				// Before the record is overwritten: the window's event
				// of the previous write may still read it from here.
				b.hub.retain(prev.rev, prev.data)
			}
			if err := storeOutcome(tasks, req.name, out); err != nil {
				return fmt.Errorf("%s task %q: %w", req.op, req.name, err)
			}
			rev++
			events = append(events, event{typ: out.event, name: req.name, obj: out.obj, data: out.data, prevLabels: prev.labels, rev: rev})
		}
		if len(events) == 0 {
			return errNothingWritten
		}
		markLatest(events)
		return writeRevision(tx, rev)
	})
	switch {
	case err == nil:
		b.hub.publish(events)
	case errors.Is(err, errNothingWritten):
	default:
		for i := range replies {
			if replies[i].err == nil {
				replies[i] = writeReply{err: fmt.Errorf("%s task %q: commit: %w", batch[i].op, batch[i].name, err)}
			}
		}
	}
	for i, req := range batch {
		req.reply <- replies[i] // submit copies the object
	}
}

// prior is what a write replaced: the task's labels (for selecting
// watchers), and its record and the revision that wrote it (for the watch
// window), nil and 0 when there was no task.
type prior struct {
	labels map[string]string
	data   []byte // memory of the transaction
	rev    int64
}

// apply runs one request's mutation against the task it names, as the
// transaction sees it (including earlier writes of the same batch), and
// returns what the write replaced.
func apply(tx *bolt.Tx, req *writeRequest, next int64, now time.Time) (outcome, prior, error) {
	if err := req.ctx.Err(); err != nil {
		return outcome{}, prior{}, fmt.Errorf("%s task %q: %w", req.op, req.name, err)
	}
	// bolt would refuse such a key at Put, failing the whole batch.
	if req.name == "" || len(req.name) > bolt.MaxKeySize {
		return outcome{}, prior{}, apierrors.NewBadRequest(fmt.Sprintf("%s task: name must be 1 to %d bytes", req.op, bolt.MaxKeySize))
	}
	if req.splice != nil {
		if value := tx.Bucket([]byte(tasksBucket)).Get([]byte(req.name)); value != nil {
			payload, err := unseal(tx, tasksBucket, []byte(req.name), value)
			if err != nil {
				return outcome{}, prior{}, fmt.Errorf("%s: %w", req.op, err)
			}
			if out, ok := req.splice.apply(payload, next); ok {
				return out, prior{labels: req.splice.obj.Labels, data: payload, rev: req.splice.rv}, nil
			}
		}
	}
	stored, data, err := getRecord(tx, req.name)
	if err != nil {
		return outcome{}, prior{}, fmt.Errorf("%s: %w", req.op, err)
	}
	var prev prior
	if stored != nil {
		// Read before the mutation, which may reuse stored.
		rev, _ := strconv.ParseInt(stored.ResourceVersion, 10, 64)
		prev = prior{labels: stored.Labels, data: data, rev: rev}
	}
	out, err := req.mutate(stored, next, now)
	if err != nil || stored == nil {
		return out, prior{}, err
	}
	return out, prev, nil
}

// markLatest marks the events of one commit that are the last write of
// their task (see event.latest): all but a DELETED one and one whose task
// the same commit wrote again.
func markLatest(events []event) {
	if len(events) == 1 {
		events[0].latest = events[0].typ != watch.Deleted
		return
	}
	later := make(map[string]bool, len(events))
	for i := len(events) - 1; i >= 0; i-- {
		e := &events[i]
		e.latest = e.typ != watch.Deleted && !later[e.name]
		later[e.name] = true
	}
}

func storeOutcome(tasks *bolt.Bucket, name string, out outcome) error {
	if out.event == watch.Deleted {
		return tasks.Delete([]byte(name))
	}
	return putTask(tasks, name, out.data)
}
