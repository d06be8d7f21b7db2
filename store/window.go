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
//
// latest marks the ADDED or MODIFIED event that is still its task's last
// write: its bytes are the store's current record of name, so the window
// keeps neither data nor obj for it and a replay reads the record back
// (hub.register). When the task is written again, the writer hands the
// window the bytes it is about to overwrite (window.retain) before the
// commit, so an event stops being latest only once it holds its own copy.
// Most events in a window are the latest of their task (many tasks, few
// writes each): issue 14 measured the window's JSON at a fifth of the
// controller's memory at 10,000 tasks, all of it a copy of the store. A
// latest event is still charged its record's size (recordLen) against the
// window's byte bound, which bounds what a replay reads into memory too.
type event struct {
	typ        watch.EventType
	name       string
	obj        *v1.Task
	data       []byte
	prevLabels map[string]string
	rev        int64
	latest     bool
	recordLen  int // len(data) when the window let go of data (latest)
}

// size is what the window is charged for e: the stored JSON and the
// previous labels. Go's own overheads are left out: a bound in bytes of
// user data is what an operator can reason about.
func (e event) size() int64 {
	n := int64(len(e.data))
	if e.latest {
		n = int64(e.recordLen)
	}
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
	if e.latest {
		e.recordLen, e.data = len(e.data), nil
	}
	if e.data != nil || e.latest {
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

// needs reports whether the event at rev is retained and still reads its
// bytes from the store: whether retain(rev) would keep anything.
func (w *window) needs(rev int64) bool {
	i, ok := w.index(rev)
	return ok && w.buf[i].latest
}

// retain gives the event at rev, about to stop being its task's latest
// write, its own copy of the stored bytes. The event was charged their
// size already; should the record differ in size, the oldest events are
// evicted until the byte bound holds again (possibly this one).
func (w *window) retain(rev int64, data []byte) {
	i, ok := w.index(rev)
	if !ok || !w.buf[i].latest {
		return
	}
	e := &w.buf[i]
	w.bytes += int64(len(data) - e.recordLen)
	e.data, e.latest, e.recordLen = data, false, 0
	for w.n > 0 && w.bytes > w.maxBytes {
		w.evict()
	}
}

// index is the position in buf of the event at rev, if retained.
func (w *window) index(rev int64) (int, bool) {
	if rev <= w.start || rev > w.start+int64(w.n) {
		return 0, false
	}
	return (w.head + int(rev-w.start-1)) % len(w.buf), true
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
// as stored (data, not decoded objects; latest ones with neither, for the
// caller to read from the store): decoding is left to the watcher, so the
// hub's lock is held for a copy only.
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
