package store

import (
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// event is one committed write as watchers see it. obj is never mutated
// once published; each watcher sends its own deep copy. data is the task as
// stored (JSON); the window keeps only that, a third of the decoded
// object's memory, and decodes on the rare replay.
type event struct {
	typ  watch.EventType
	obj  *v1.Task
	data []byte
	rev  int64
}

// window is a ring of the last events. Every write takes the next
// revision, so the retained events are contiguous: the window holds
// exactly the events with a revision in (start, start+n].
type window struct {
	buf   []event
	head  int // index of the oldest retained event
	n     int
	start int64
}

// newWindow returns an empty window of size events that starts at rev:
// nothing before rev can be replayed (after a restart, the events of the
// previous run are gone).
func newWindow(size int, rev int64) *window {
	return &window{buf: make([]event, size), start: rev}
}

// add appends e, whose revision follows the last retained one, evicting
// the oldest event when the window is full.
func (w *window) add(e event) {
	if w.n == len(w.buf) {
		w.start = w.buf[w.head].rev
		w.buf[w.head] = event{}
		w.head = (w.head + 1) % len(w.buf)
		w.n--
	}
	if e.data != nil {
		e.obj = nil
	}
	w.buf[(w.head+w.n)%len(w.buf)] = e
	w.n++
}

// since returns the retained events with a revision greater than rev, or
// false when some of them were already evicted.
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
		e := w.buf[(w.head+i)%len(w.buf)]
		if e.obj == nil && e.data != nil {
			obj, err := decodeTask(e.data)
			if err != nil {
				// Cannot happen for data the store wrote; a relist
				// repairs it if it ever does.
				return nil, false
			}
			e.obj = obj
		}
		out = append(out, e)
	}
	return out, true
}

// oldest is the revision of the oldest event that can still be replayed.
func (w *window) oldest() int64 {
	return w.start + 1
}
