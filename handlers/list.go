package handlers

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
)

// listTasks answers GET /v1/tasks (not a watch). With a store that streams
// (store.Streamer), the items are encoded one by one as the store reads
// them, so a list of any length costs the server one chunk of tasks and a
// write buffer, never the whole list; `limit` and `continue` page it as
// the Kubernetes apiserver does (metadata.continue names the next page,
// an unreadable token is 400, an expired one 410). Other stores return the
// whole list, which is then encoded whole.
//
// The body is a TaskList whose metadata comes after its items: the
// continue token is known only once the page has been read, and JSON
// objects are unordered.
func (a *taskAPI) listTasks(w http.ResponseWriter, r *http.Request, sel labels.Selector) {
	q := r.URL.Query()
	opts := store.ListOptions{Selector: sel, Continue: q.Get("continue")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			a.fail(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid limit %q: want a whole number ≥ 0", s)))
			return
		}
		opts.Limit = n
	}
	streamer, ok := store.As[store.Streamer](a.store)
	if !ok {
		if opts.Limit != 0 || opts.Continue != "" {
			a.fail(w, r, apierrors.NewBadRequest("this store does not page lists: drop limit and continue"))
			return
		}
		list, err := a.store.List(r.Context(), sel)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		list.APIVersion, list.Kind = v1.APIVersion, v1.KindTaskList
		if list.Items == nil {
			list.Items = []v1.Task{} // "items": [], never null
		}
		writeJSON(w, http.StatusOK, list)
		return
	}

	lw := &listWriter{w: w}
	meta, err := streamer.ListStream(r.Context(), opts, lw.item)
	if err != nil {
		if !lw.started {
			a.fail(w, r, err)
			return
		}
		// The status line is gone: cut the connection, so the client
		// sees a broken body rather than a list that looks whole.
		a.log.Error("list failed while streaming", "path", r.URL.Path, "err", err)
		panic(http.ErrAbortHandler)
	}
	if err := lw.finish(meta); err != nil {
		panic(http.ErrAbortHandler)
	}
}

// listWriter encodes a TaskList item by item.
type listWriter struct {
	w       http.ResponseWriter
	bw      *bufio.Writer
	enc     *json.Encoder
	started bool
	items   int
}

func (l *listWriter) start() {
	l.started = true
	h := l.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	l.w.WriteHeader(http.StatusOK)
	l.bw = bufio.NewWriterSize(l.w, 32<<10)
	l.enc = json.NewEncoder(l.bw)
	fmt.Fprintf(l.bw, `{"kind":%q,"apiVersion":%q,"items":[`, v1.KindTaskList, v1.APIVersion)
}

func (l *listWriter) item(t *v1.Task) error {
	if !l.started {
		l.start()
	}
	if l.items > 0 {
		if err := l.bw.WriteByte(','); err != nil {
			return err
		}
	}
	l.items++
	t.APIVersion, t.Kind = v1.APIVersion, v1.KindTask
	return l.enc.Encode(t) // its newline is JSON whitespace
}

func (l *listWriter) finish(meta store.ListMeta) error {
	if !l.started {
		l.start()
	}
	m, err := json.Marshal(struct {
		ResourceVersion string `json:"resourceVersion,omitempty"`
		Continue        string `json:"continue,omitempty"`
	}{meta.ResourceVersion, meta.Continue})
	if err != nil {
		return err
	}
	fmt.Fprintf(l.bw, `],"metadata":%s}`+"\n", m)
	return l.bw.Flush()
}
