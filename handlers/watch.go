package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// bookmarkInterval is how often a watch asking for bookmarks gets one. A
// variable so tests need not wait ten seconds.
var bookmarkInterval = 10 * time.Second

// watchEvent is one line of the stream, Kubernetes' watch event shape.
type watchEvent struct {
	Type   watch.EventType `json:"type"`
	Object any             `json:"object"`
}

// watch streams store events as newline-delimited JSON until the client
// goes away, timeoutSeconds passes or the store ends the watch. Errors
// before the first byte (a bad parameter, a 410 Expired) are ordinary
// Status responses; after it, the store's own ERROR events carry them.
//
// The store applies the selector (store.Interface.WatchSelected), since
// only it knows a task's labels before each write: a task leaving the
// selector is sent as DELETED, one entering it as ADDED. Its BOOKMARK
// events mark progress (past filtered events, and the revision a
// snapshot stands for); they are not forwarded as such but set the
// resourceVersion of the periodic bookmarks the client asked for.
func (a *taskAPI) watch(w http.ResponseWriter, r *http.Request, sel labels.Selector) {
	bookmarks, err := boolParam(r, "allowWatchBookmarks")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	timeout, err := intParam(r, "timeoutSeconds", 0, 0)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ctx := r.Context()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(timeout)*time.Second)
		defer cancel()
	}
	rv := r.URL.Query().Get("resourceVersion")
	wi, err := a.store.WatchSelected(ctx, rv, sel)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer wi.Stop()

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return
	}
	enc := json.NewEncoder(w) // Encode ends each event with '\n'

	// lastRV is the revision a client resuming now would lose nothing
	// from. While a snapshot ("" or "0") streams, its objects carry the
	// revisions they were written at, in name order, so lastRV waits for
	// the store's bookmark at the snapshot's own revision.
	lastRV, inSnapshot := rv, rv == "" || rv == "0"
	if inSnapshot {
		lastRV = ""
	}
	var tick <-chan time.Time
	if bookmarks {
		t := time.NewTicker(bookmarkInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		var ev watchEvent
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if lastRV == "" {
				continue
			}
			ev = watchEvent{Type: watch.Bookmark, Object: bookmarkObject(lastRV)}
		case e, ok := <-wi.ResultChan():
			if !ok {
				return // the store closed the watch
			}
			if m, err := meta.Accessor(e.Object); err == nil && e.Type != watch.Error {
				if e.Type == watch.Bookmark {
					lastRV, inSnapshot = m.GetResourceVersion(), false
					continue
				}
				if !inSnapshot {
					lastRV = m.GetResourceVersion()
				}
			}
			ev = watchEvent{Type: e.Type, Object: e.Object}
		}
		if enc.Encode(&ev) != nil || rc.Flush() != nil {
			return // the client is gone
		}
	}
}

// bookmark is the object of a BOOKMARK event: the kind and only the
// resourceVersion, as Kubernetes sends it.
type bookmark struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
}

func bookmarkObject(rv string) *bookmark {
	b := &bookmark{TypeMeta: metav1.TypeMeta{Kind: v1.KindTask, APIVersion: v1.APIVersion}}
	b.Metadata.ResourceVersion = rv
	return b
}
