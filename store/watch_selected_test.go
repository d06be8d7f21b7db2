package store

import (
	"context"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

func labelled(name, app string) *v1.Task {
	t := newTask(name)
	t.Labels = map[string]string{"app": app}
	return t
}

func relabel(t *testing.T, b Interface, name, app string) *v1.Task {
	t.Helper()
	cur, err := b.Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	cur.Labels = map[string]string{"app": app}
	out, err := b.Update(context.Background(), cur)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWatchSelected_ObjectCrossingSelector_AddedAndDeleted is the second
// watch defect of issue 10: a task leaving the selector must come as
// DELETED, one entering it as ADDED, as Kubernetes sends them; what the
// selector never matched comes as a BOOKMARK at its revision.
func TestWatchSelected_ObjectCrossingSelector_AddedAndDeleted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.open(t, Options{})
		mustCreate(t, b, labelled("x", "wanted"))
		sel := labels.SelectorFromSet(labels.Set{"app": "wanted"})
		w, err := b.WatchSelected(context.Background(), b.currentRV(t), sel)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()

		var want []eventSummary
		out := relabel(t, b, "x", "other") // leaves
		want = append(want, eventSummary{watch.Deleted, "x", out.ResourceVersion})
		out = relabel(t, b, "x", "other-too") // still out: progress only
		want = append(want, eventSummary{watch.Bookmark, "", out.ResourceVersion})
		out = relabel(t, b, "x", "wanted") // enters
		want = append(want, eventSummary{watch.Added, "x", out.ResourceVersion})
		cur, _ := b.Get(context.Background(), "x")
		cur.Annotations = map[string]string{"n": "1"}
		out, _ = b.Update(context.Background(), cur) // stays in
		want = append(want, eventSummary{watch.Modified, "x", out.ResourceVersion})
		del, err := b.Delete(context.Background(), "x", "")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, eventSummary{watch.Deleted, "x", del.ResourceVersion})
		mustCreate(t, b, labelled("y", "other"))
		want = append(want, eventSummary{watch.Bookmark, "", b.currentRV(t)})

		var got []eventSummary
		for range want {
			got = append(got, summarize(nextEvent(t, w)))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("events\n%v\nwant\n%v", got, want)
		}
	})
}

// TestWatchSelected_FromSnapshot_BookmarkAtSnapshotRevision is the first
// watch defect of issue 10: the snapshot's objects carry their own
// revisions, in name order, so the last of them is not where the snapshot
// stands. The stream says where with a BOOKMARK.
func TestWatchSelected_FromSnapshot_BookmarkAtSnapshotRevision(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.open(t, Options{})
		mustCreate(t, b, labelled("a", "wanted"))
		mustCreate(t, b, labelled("b", "wanted"))
		mustCreate(t, b, labelled("c", "other"))
		relabel(t, b, "a", "wanted-too")
		relabel(t, b, "a", "wanted") // a is now the newest, yet first by name
		snapshot := b.currentRV(t)

		w, err := b.WatchSelected(context.Background(), "", labels.SelectorFromSet(labels.Set{"app": "wanted"}))
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		got := []eventSummary{summarize(nextEvent(t, w)), summarize(nextEvent(t, w)), summarize(nextEvent(t, w))}
		want := []eventSummary{{watch.Added, "a", b.rv(5)}, {watch.Added, "b", b.rv(2)}, {watch.Bookmark, "", snapshot}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("snapshot events %v, want %v", got, want)
		}
	})
}

// Watch, unlike WatchSelected, sends no bookmarks: the controller's
// reflector gets exactly the events of the store.
func TestWatch_FromSnapshot_NoBookmark(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.open(t, Options{})
		mustCreate(t, b, newTask("a"))
		w, err := b.Watch(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if ev := nextEvent(t, w); ev.Type != watch.Added {
			t.Fatalf("first event %s", ev.Type)
		}
		expectNoEvent(t, w)
	})
}
