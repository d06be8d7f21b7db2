package store

import (
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// event is one committed write as watchers see it. obj is never mutated
// once published; each watcher sends its own deep copy. data is the task as
// stored (JSON); the window keeps only that, a third of the decoded
// object's memory, and watchers decode it on the rare replay, outside the
// hub's lock. prevLabels are the task's labels before the write (nil for
// an ADDED): a selecting watcher needs them to tell an object that leaves
// its selector (DELETED) from one it never showed.
type event struct {
	typ        watch.EventType
	obj        *v1.Task
	data       []byte
	prevLabels map[string]string
	rev        int64
}

// size is what the window is charged for e: the stored JSON and the
// previous labels. Go's own overheads are left out: a bound in bytes of
// user data is what an operator can reason about.
func (e event) size() int64 {
	n := int64(len(e.data))
	for k, v := range e.prevLabels {
		n += int64(len(k) + len(v))
	}
	return n
}

// window is a ring of the last events, bounded both in events and in
// bytes (issue 11: ten thousand events of a 1 MB object each took
// gigabytes). Every write takes the next revision, so the retained events
// are contiguous: the window holds exactly the events with a revision in
// (start, start+n].
type window struct {
	buf      []event
	head     int // index of the oldest retained event
	n        int
	start    int64
	bytes    int64 // sum of size() of the retained events
	maxBytes int64
}

// newWindow returns an empty window of size events and maxBytes bytes that
// starts at rev: nothing before rev can be replayed (after a restart, the
// events of the previous run are gone).
func newWindow(size int, maxBytes int64, rev int64) *window {
	return &window{buf: make([]event, size), start: rev, maxBytes: maxBytes}
}

// add appends e, whose revision follows the last retained one, evicting
// the oldest events until both bounds hold. An event larger than the
// whole byte bound is still kept, alone, so that the newest revision can
// always be watched from.
func (w *window) add(e event) {
	if e.data != nil {
		e.obj = nil
	}
	sz := e.size()
	for w.n > 0 && (w.n == len(w.buf) || w.bytes+sz > w.maxBytes) {
		w.evict()
	}
	w.buf[(w.head+w.n)%len(w.buf)] = e
	w.n++
	w.bytes += sz
}

func (w *window) evict() {
	old := w.buf[w.head]
	w.start = old.rev
	w.bytes -= old.size()
	w.buf[w.head] = event{}
	w.head = (w.head + 1) % len(w.buf)
	w.n--
}

// since returns the retained events with a revision greater than rev, or
// false when some of them were already evicted. The events are returned
// as stored (data, not decoded objects): decoding is left to the watcher,
// so the hub's lock is held for a copy only.
func (w *window) since(rev int64) ([]event, bool) {
	if rev < w.start {
		return nil, false
	}
	skip := rev - w.start
	if skip >= int64(w.n) {
		return nil, true
	}
	out := make([]event, 0, int64(w.n)-skip)
	for i := int(skip); i < w.n; i++ {
		out = append(out, w.buf[(w.head+i)%len(w.buf)])
	}
	return out, true
}

// oldest is the revision of the oldest event that can still be replayed.
func (w *window) oldest() int64 {
	return w.start + 1
}
