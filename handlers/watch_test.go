package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
)

// streamEvent is one decoded line of a watch stream.
type streamEvent struct {
	Type   watch.EventType `json:"type"`
	Object json.RawMessage `json:"object"`
}

func (e streamEvent) task(t *testing.T) *v1.Task {
	t.Helper()
	return decodeAs[v1.Task](t, e.Object)
}

// eventStream reads a watch response line by line. Every read is bounded
// by the request's deadline, so a missing event fails instead of hanging.
type eventStream struct {
	resp   *http.Response
	lines  *bufio.Scanner
	cancel context.CancelFunc
}

func (e *testEnv) watch(t *testing.T, query string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	resp := e.open(t, ctx, http.MethodGet, "/v1/tasks?watch=true&"+query, "")
	t.Cleanup(func() {
		cancel()
		_ = resp.Body.Close()
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("watch ?%s: code %d", query, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("watch Content-Type %q, want application/json", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(nil, 2<<20)
	return &eventStream{resp: resp, lines: lines, cancel: cancel}
}

func (s *eventStream) next(t *testing.T) streamEvent {
	t.Helper()
	if !s.lines.Scan() {
		t.Fatalf("watch stream ended before the next event: %v", s.lines.Err())
	}
	var ev streamEvent
	if err := json.Unmarshal(s.lines.Bytes(), &ev); err != nil {
		t.Fatalf("decoding event %q: %v", s.lines.Bytes(), err)
	}
	return ev
}

// wantEnd checks that the server ends the stream (EOF, not our deadline).
func (s *eventStream) wantEnd(t *testing.T) {
	t.Helper()
	for s.lines.Scan() {
		t.Logf("event before the end: %s", s.lines.Bytes())
	}
	if err := s.lines.Err(); err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
}

func (e *testEnv) listRV(t *testing.T) string {
	t.Helper()
	resp, data := e.request(t, http.MethodGet, "/v1/tasks", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list: code %d: %s", resp.StatusCode, data)
	}
	return decodeAs[v1.TaskList](t, data).ResourceVersion
}

func TestWatch_FromListRV_DeliversModifiedAfterPut(t *testing.T) {
	env := newTestEnv(t)
	env.put(t, "web", taskJSON("nginx:1", nil), http.StatusCreated)
	stream := env.watch(t, "resourceVersion="+env.listRV(t))
	updated := env.put(t, "web", taskJSON("nginx:2", nil), http.StatusOK)

	ev := stream.next(t)
	got := ev.task(t)
	if ev.Type != watch.Modified || got.Name != "web" || got.Spec.Image != "nginx:2" || got.ResourceVersion != updated.ResourceVersion {
		t.Errorf("event %s %s image %s RV %s, want MODIFIED web nginx:2 %s",
			ev.Type, got.Name, got.Spec.Image, got.ResourceVersion, updated.ResourceVersion)
	}
}

func TestWatch_WithoutRV_StartsWithAddedPerTask(t *testing.T) {
	env := newTestEnv(t)
	env.put(t, "web", taskJSON("nginx", nil), http.StatusCreated)
	for _, q := range []string{"", "resourceVersion=0"} {
		t.Run("query="+q, func(t *testing.T) {
			stream := env.watch(t, q)
			if ev := stream.next(t); ev.Type != watch.Added || ev.task(t).Name != "web" {
				t.Errorf("first event %s %s, want ADDED web", ev.Type, ev.Object)
			}
		})
	}
}

func TestWatch_LabelSelector_FiltersEvents(t *testing.T) {
	env := newTestEnv(t)
	stream := env.watch(t, "labelSelector=app%3Dwanted&resourceVersion="+env.listRV(t))
	env.put(t, "other", taskJSON("nginx", map[string]string{"app": "other"}), http.StatusCreated)
	env.put(t, "wanted", taskJSON("nginx", map[string]string{"app": "wanted"}), http.StatusCreated)
	if ev := stream.next(t); ev.Type != watch.Added || ev.task(t).Name != "wanted" {
		t.Errorf("first event %s %s, want ADDED wanted", ev.Type, ev.Object)
	}
}

func TestWatch_TooOldRV_Gone(t *testing.T) {
	env := newTestEnv(t, func(s *envSetup) { s.store.WatchWindow = 2 })
	first := env.put(t, "t0", taskJSON("nginx", nil), http.StatusCreated)
	for i := 1; i < 6; i++ {
		env.put(t, "t"+strconv.Itoa(i), taskJSON("nginx", nil), http.StatusCreated)
	}
	resp, data := env.request(t, http.MethodGet, "/v1/tasks?watch=1&resourceVersion="+first.ResourceVersion, "")
	wantStatus(t, resp, data, http.StatusGone, metav1.StatusReasonExpired)
}

func TestWatch_BadParameters_BadRequest(t *testing.T) {
	env := newTestEnv(t)
	for _, q := range []string{"watch=maybe", "watch=true&timeoutSeconds=-1", "watch=true&timeoutSeconds=x",
		"watch=true&allowWatchBookmarks=sure", "watch=true&resourceVersion=abc", "watch=true&labelSelector=a%3D%3D%3D"} {
		t.Run(q, func(t *testing.T) {
			resp, data := env.request(t, http.MethodGet, "/v1/tasks?"+q, "")
			wantStatus(t, resp, data, http.StatusBadRequest, metav1.StatusReasonBadRequest)
		})
	}
}

func TestWatch_AllowBookmarks_SendsLastSeenRV(t *testing.T) {
	old := bookmarkInterval
	bookmarkInterval = 10 * time.Millisecond
	t.Cleanup(func() { bookmarkInterval = old })
	env := newTestEnv(t)
	env.put(t, "first", taskJSON("nginx", nil), http.StatusCreated) // so the list RV is not "0"
	start := env.listRV(t)
	// The selector matches nothing: bookmarks still advance past the
	// filtered events, which is what they are for.
	stream := env.watch(t, "allowWatchBookmarks=true&labelSelector=app%3Dnone&resourceVersion="+start)
	assertBookmark := func(ev streamEvent) string {
		t.Helper()
		if ev.Type != watch.Bookmark {
			t.Fatalf("event %s %s, want BOOKMARK", ev.Type, ev.Object)
		}
		var obj map[string]any
		if err := json.Unmarshal(ev.Object, &obj); err != nil {
			t.Fatal(err)
		}
		if obj["kind"] != v1.KindTask || obj["apiVersion"] != v1.APIVersion || len(obj) != 3 {
			t.Fatalf("bookmark object %s, want kind, apiVersion and metadata only", ev.Object)
		}
		return obj["metadata"].(map[string]any)["resourceVersion"].(string)
	}
	if rv := assertBookmark(stream.next(t)); rv != start {
		t.Errorf("first bookmark at %s, want %s", rv, start)
	}
	created := env.put(t, "web", taskJSON("nginx", nil), http.StatusCreated)
	rv := ""
	for rv != created.ResourceVersion {
		rv = assertBookmark(stream.next(t)) // until the bookmark passes the filtered ADDED
	}
}

func TestWatch_TimeoutSeconds_EndsStream(t *testing.T) {
	env := newTestEnv(t)
	stream := env.watch(t, "timeoutSeconds=1&resourceVersion="+env.listRV(t))
	stream.wantEnd(t)
}

func TestWatch_StoreClosed_EndsStream(t *testing.T) {
	env := newTestEnv(t)
	stream := env.watch(t, "resourceVersion="+env.listRV(t))
	if err := env.store.Close(); err != nil {
		t.Fatal(err)
	}
	stream.wantEnd(t)
}

func TestWatch_ClientGone_StopsStoreWatch(t *testing.T) {
	stopped := make(chan struct{})
	env := newTestEnv(t, func(s *envSetup) {
		s.wrap = func(st store.Interface) store.Interface { return &stopSignallingStore{Interface: st, stopped: stopped} }
	})
	stream := env.watch(t, "resourceVersion="+env.listRV(t))
	stream.cancel()
	select {
	case <-stopped:
	case <-time.After(testTimeout):
		t.Fatal("the store watch was not stopped after the client went away")
	}
}

// stopSignallingStore closes stopped when the watch it hands out is stopped.
type stopSignallingStore struct {
	store.Interface
	stopped chan struct{}
}

func (s *stopSignallingStore) WatchSelected(ctx context.Context, rv string, sel labels.Selector) (watch.Interface, error) {
	w, err := s.Interface.WatchSelected(ctx, rv, sel)
	if err != nil {
		return nil, err
	}
	return &stopSignallingWatch{Interface: w, stopped: s.stopped}, nil
}

type stopSignallingWatch struct {
	watch.Interface
	once    sync.Once
	stopped chan struct{}
}

func (w *stopSignallingWatch) Stop() {
	w.Interface.Stop()
	w.once.Do(func() { close(w.stopped) })
}

// bookmarkRV returns the resourceVersion of a BOOKMARK event.
func bookmarkRV(t *testing.T, ev streamEvent) string {
	t.Helper()
	if ev.Type != watch.Bookmark {
		t.Fatalf("event %s %s, want BOOKMARK", ev.Type, ev.Object)
	}
	var obj struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(ev.Object, &obj); err != nil {
		t.Fatal(err)
	}
	return obj.Metadata.ResourceVersion
}

// TestWatch_FromSnapshot_BookmarkCarriesListRV: the snapshot's ADDED
// objects come in name order, each with the revision it was last written
// at; the bookmark after them must carry the snapshot's revision (what a
// list at that moment returns), so that resuming from it replays nothing
// the client already has (issue 10).
func TestWatch_FromSnapshot_BookmarkCarriesListRV(t *testing.T) {
	old := bookmarkInterval
	bookmarkInterval = 10 * time.Millisecond
	t.Cleanup(func() { bookmarkInterval = old })
	env := newTestEnv(t)
	env.put(t, "a", taskJSON("nginx:1", nil), http.StatusCreated)
	env.put(t, "b", taskJSON("nginx:1", nil), http.StatusCreated)
	env.put(t, "a", taskJSON("nginx:2", nil), http.StatusOK) // a: newest, first by name
	listRV := env.listRV(t)

	stream := env.watch(t, "allowWatchBookmarks=true")
	added := 0
	var rv string
	for added < 2 {
		ev := stream.next(t)
		if ev.Type == watch.Added {
			added++
			continue
		}
		bookmarkRV(t, ev) // a bookmark may come in between; only its type matters here
	}
	if rv = bookmarkRV(t, stream.next(t)); rv != listRV {
		t.Fatalf("bookmark after the snapshot at %s, want the list's %s", rv, listRV)
	}

	resumed := env.watch(t, "resourceVersion="+rv)
	created := env.put(t, "c", taskJSON("nginx:1", nil), http.StatusCreated)
	if ev := resumed.next(t); ev.Type != watch.Added || ev.task(t).ResourceVersion != created.ResourceVersion {
		t.Errorf("first event after resuming from the bookmark: %s %s, want ADDED c at %s (nothing replayed)",
			ev.Type, ev.Object, created.ResourceVersion)
	}
}

// TestWatch_LabelSelector_ObjectCrossingSelector: a task that stops
// matching the selector comes as DELETED, one that starts as ADDED, as
// Kubernetes sends them (issue 10: they were dropped).
func TestWatch_LabelSelector_ObjectCrossingSelector(t *testing.T) {
	env := newTestEnv(t)
	stream := env.watch(t, "labelSelector=app%3Dwanted&resourceVersion="+env.listRV(t))
	env.put(t, "x", taskJSON("nginx", map[string]string{"app": "wanted"}), http.StatusCreated)
	left := env.put(t, "x", taskJSON("nginx", map[string]string{"app": "other"}), http.StatusOK)
	back := env.put(t, "x", taskJSON("nginx", map[string]string{"app": "wanted"}), http.StatusOK)
	for _, want := range []struct {
		typ watch.EventType
		rv  string
	}{{watch.Added, ""}, {watch.Deleted, left.ResourceVersion}, {watch.Added, back.ResourceVersion}} {
		ev := stream.next(t)
		got := ev.task(t)
		if ev.Type != want.typ || got.Name != "x" || (want.rv != "" && got.ResourceVersion != want.rv) {
			t.Errorf("event %s %s at %s, want %s x at %s", ev.Type, got.Name, got.ResourceVersion, want.typ, want.rv)
		}
	}
}
