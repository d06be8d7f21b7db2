package store

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

func TestWatch_FromZero_SendsSnapshotThenLiveEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		for _, rv := range []string{"", "0"} {
			t.Run(fmt.Sprintf("rv=%q", rv), func(t *testing.T) {
				b := be.open(t, Options{})
				ctx := context.Background()
				mustCreate(t, b, newTask("b"))
				mustCreate(t, b, newTask("a"))
				if _, err := b.Delete(ctx, "b", ""); err != nil {
					t.Fatalf("Delete: %v", err)
				}
				w, err := b.Watch(ctx, rv)
				if err != nil {
					t.Fatalf("Watch: %v", err)
				}
				defer w.Stop()
				mustCreate(t, b, newTask("c"))

				want := []eventSummary{{watch.Added, "a", b.rv(2)}, {watch.Added, "c", b.rv(4)}}
				for _, w0 := range want {
					if got := summarize(nextEvent(t, w)); got != w0 {
						t.Errorf("event %+v, want %+v", got, w0)
					}
				}
				expectNoEvent(t, w)
			})
		}
	})
}

func TestWatch_FromRevision_ReplaysLaterEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.open(t, Options{})
		ctx := context.Background()
		for _, name := range []string{"a", "b", "c"} {
			mustCreate(t, b, newTask(name))
		}
		tests := []struct {
			rv   int64
			want []string
		}{
			{1, []string{"b", "c"}},
			{2, []string{"c"}},
			{3, nil},
		}
		for _, tc := range tests {
			t.Run(fmt.Sprintf("rv=%d", tc.rv), func(t *testing.T) {
				w, err := b.Watch(ctx, b.rv(tc.rv))
				if err != nil {
					t.Fatalf("Watch: %v", err)
				}
				defer w.Stop()
				for _, name := range tc.want {
					if got := summarize(nextEvent(t, w)); got.Name != name || got.Type != watch.Added {
						t.Errorf("event %+v, want ADDED %s", got, name)
					}
				}
				expectNoEvent(t, w)
			})
		}
	})
}

func TestWatch_RevisionOutsideWindow(t *testing.T) {
	b, _ := openTestStore(t, Options{WatchWindow: 3})
	for i := range 5 {
		mustCreate(t, b, newTask(fmt.Sprintf("t%d", i)))
	}
	// Revisions 3, 4 and 5 are retained: a watch from 2 loses nothing.
	tests := []struct {
		rv          string
		wantErr     func(error) bool
		wantReplays int
	}{
		{rv: "1", wantErr: apierrors.IsResourceExpired},
		{rv: "2", wantReplays: 3},
		{rv: "4", wantReplays: 1},
		{rv: "-1", wantErr: apierrors.IsBadRequest},
		{rv: "abc", wantErr: apierrors.IsBadRequest},
	}
	for _, tc := range tests {
		t.Run("rv="+tc.rv, func(t *testing.T) {
			w, err := b.Watch(context.Background(), tc.rv)
			if tc.wantErr != nil {
				if !tc.wantErr(err) {
					t.Fatalf("err %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Watch: %v", err)
			}
			defer w.Stop()
			for range tc.wantReplays {
				nextEvent(t, w)
			}
			expectNoEvent(t, w)
		})
	}
}

func TestWatch_AfterReopen_OnlyCurrentRevisionIsNotExpired(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenDir(dir, Options{})
	if err != nil {
		t.Fatalf("OpenDir: %v", err)
	}
	mustCreate(t, b, newTask("a"))
	mustCreate(t, b, newTask("b"))
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	b, err = OpenDir(dir, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer b.Close()

	if _, err := b.Watch(context.Background(), "1"); !apierrors.IsResourceExpired(err) {
		t.Errorf("watch from 1 after reopen: %v, want Expired", err)
	}
	w, err := b.Watch(context.Background(), "2")
	if err != nil {
		t.Fatalf("watch from current revision: %v", err)
	}
	defer w.Stop()
	mustCreate(t, b, newTask("c"))
	if got := summarize(nextEvent(t, w)); got != (eventSummary{watch.Added, "c", "3"}) {
		t.Errorf("event %+v", got)
	}
}

func TestWatch_FutureRevision_DeliversOnlyLaterEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.open(t, Options{})
		w, err := b.Watch(context.Background(), b.rv(2))
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		defer w.Stop()
		for _, name := range []string{"a", "b", "c"} {
			mustCreate(t, b, newTask(name))
		}
		if got := summarize(nextEvent(t, w)); got != (eventSummary{watch.Added, "c", b.rv(3)}) {
			t.Errorf("event %+v", got)
		}
		expectNoEvent(t, w)
	})
}

func TestWatch_SlowWatcher_IsClosedWithoutBlockingWriters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.open(t, Options{WatchBuffer: 2})
		w, err := b.Watch(context.Background(), "0")
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		defer w.Stop()
		// Nobody reads w; every write must still be acknowledged.
		for i := range 10 {
			mustCreate(t, b, newTask(fmt.Sprintf("t%d", i)))
		}
		waitClosed(t, w)
	})
}

func TestWatch_Ends(t *testing.T) {
	tests := []struct {
		name string
		end  func(b *testStore, w watch.Interface, cancel context.CancelFunc)
	}{
		{"Stop", func(_ *testStore, w watch.Interface, _ context.CancelFunc) { w.Stop() }},
		{"StopTwice", func(_ *testStore, w watch.Interface, _ context.CancelFunc) { w.Stop(); w.Stop() }},
		{"ContextCancelled", func(_ *testStore, _ watch.Interface, cancel context.CancelFunc) { cancel() }},
		{"StoreClosed", func(b *testStore, _ watch.Interface, _ context.CancelFunc) { b.Close() }},
	}
	forEachBackend(t, func(t *testing.T, be backend) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				b := be.open(t, Options{})
				mustCreate(t, b, newTask("a"))
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				w, err := b.Watch(ctx, "0")
				if err != nil {
					t.Fatalf("Watch: %v", err)
				}
				tc.end(b, w, cancel)
				waitClosed(t, w)
				w.Stop()
				if left := b.watchers(); left != 0 {
					t.Errorf("%d watchers still registered", left)
				}
			})
		}
	})
}

// Under concurrent writers every acknowledged write must reach a watcher
// exactly once, in strictly increasing revision order.
func TestWatch_ConcurrentWriters_EventsInRevisionOrderExactlyOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		const writers, perWriter = 32, 20
		b := be.open(t, Options{WatchBuffer: writers * perWriter * 3})
		ctx := context.Background()
		w, err := b.Watch(ctx, "0")
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		defer w.Stop()

		var (
			mu    sync.Mutex
			acked = map[eventSummary]bool{}
			wg    sync.WaitGroup
		)
		record := func(typ watch.EventType, x *v1.Task, err error) {
			if err != nil {
				t.Errorf("write: %v", err)
				return
			}
			mu.Lock()
			acked[eventSummary{typ, x.Name, x.ResourceVersion}] = true
			mu.Unlock()
		}
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range perWriter {
					name := fmt.Sprintf("w%02d-%02d", i, j)
					x, err := b.Create(ctx, newTask(name))
					record(watch.Added, x, err)
					if err != nil {
						continue
					}
					x.Status.State = v1.Running
					x, err = b.UpdateStatus(ctx, x)
					record(watch.Modified, x, err)
					if j%2 == 0 {
						x, err = b.Delete(ctx, name, "")
						record(watch.Deleted, x, err)
					}
				}
			}()
		}
		wg.Wait()

		seen := map[eventSummary]bool{}
		last := int64(0)
		for len(seen) < len(acked) {
			ev := summarize(nextEvent(t, w))
			rv, _ := strconv.ParseInt(ev.RV, 10, 64)
			if rv <= last {
				t.Fatalf("event rv %d after %d", rv, last)
			}
			last = rv
			if !acked[ev] {
				t.Fatalf("event %+v was not acknowledged to a writer", ev)
			}
			if seen[ev] {
				t.Fatalf("event %+v delivered twice", ev)
			}
			seen[ev] = true
		}
		expectNoEvent(t, w)
		if want := int64(len(acked)); b.written(t) != want {
			t.Errorf("revisions written %d, want %d (one per write)", b.written(t), want)
		}
	})
}

func TestWatch_EventsMatchStoredObjects(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.open(t, Options{})
		w, err := b.Watch(context.Background(), "0")
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		defer w.Stop()
		created := mustCreate(t, b, newTask("a"))
		got := nextEvent(t, w).Object.(*v1.Task)
		if !reflect.DeepEqual(got, created) {
			t.Errorf("event object %+v\nwant %+v", got, created)
		}
	})
}

func TestWindow_Since(t *testing.T) {
	w := newWindow(3, 1<<20, 10)
	for rev := int64(11); rev <= 15; rev++ {
		w.add(event{rev: rev})
	}
	tests := []struct {
		after  int64
		want   []int64
		wantOK bool
	}{
		{after: 11, wantOK: false},
		{after: 12, want: []int64{13, 14, 15}, wantOK: true},
		{after: 14, want: []int64{15}, wantOK: true},
		{after: 15, want: nil, wantOK: true},
		{after: 99, want: nil, wantOK: true},
	}
	for _, tc := range tests {
		evs, ok := w.since(tc.after)
		var got []int64
		for _, e := range evs {
			got = append(got, e.rev)
		}
		if ok != tc.wantOK || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("since(%d) = %v %v, want %v %v", tc.after, got, ok, tc.want, tc.wantOK)
		}
	}
	if w.oldest() != 13 {
		t.Errorf("oldest %d, want 13", w.oldest())
	}
}

func TestWindow_BoundedInBytes_EvictsOldestFirst(t *testing.T) {
	w := newWindow(100, 25, 0)
	for rev := int64(1); rev <= 3; rev++ {
		w.add(event{rev: rev, data: make([]byte, 10)})
	}
	if w.n != 2 || w.bytes != 20 {
		t.Fatalf("window holds %d events, %d bytes; want 2 and 20", w.n, w.bytes)
	}
	if _, ok := w.since(0); ok {
		t.Errorf("since(0) succeeded after event 1 was evicted for size")
	}
	if evs, ok := w.since(1); !ok || len(evs) != 2 {
		t.Errorf("since(1) = %d events %v, want 2 true", len(evs), ok)
	}
	// Labels kept for selecting watchers count too.
	w.add(event{rev: 4, data: make([]byte, 5), prevLabels: map[string]string{"app": "web"}}) // 5+6 bytes
	if w.n != 2 || w.bytes != 21 || w.oldest() != 3 {
		t.Errorf("after a labelled event: %d events, %d bytes, oldest %d; want 2, 21, 3", w.n, w.bytes, w.oldest())
	}
	// One event larger than the bound is kept alone: the newest revision
	// stays watchable.
	w.add(event{rev: 5, data: make([]byte, 40)})
	if evs, ok := w.since(4); w.n != 1 || !ok || len(evs) != 1 || evs[0].rev != 5 {
		t.Errorf("after an oversized event: %d events, since(4) = %d %v", w.n, len(evs), ok)
	}
}

func TestWatch_WindowBytesExceeded_OldRevisionExpired(t *testing.T) {
	b, _ := openTestStore(t, Options{WatchWindowBytes: 4 << 10})
	first := mustCreate(t, b, newTask("first"))
	for i := range 20 {
		task := newTask(fmt.Sprintf("big-%d", i))
		task.Annotations = map[string]string{"blob": strings.Repeat("x", 1024)}
		mustCreate(t, b, task)
	}
	if _, err := b.Watch(context.Background(), first.ResourceVersion); !apierrors.IsResourceExpired(err) {
		t.Errorf("Watch from %s after 20 KiB of events in a 4 KiB window: %v, want 410 Expired", first.ResourceVersion, err)
	}
	last := formatRevision(b.CurrentRevision() - 1)
	w, err := b.Watch(context.Background(), last)
	if err != nil {
		t.Fatalf("Watch from the second newest revision: %v", err)
	}
	w.Stop()
}

// TestWatchWindow_LargeObjectUpdates_StayWithinBytes is issue 11's memory
// attack in small: many updates of a task carrying a large annotation.
// The window keeps what fits in its byte bound, not its event count.
func TestWatchWindow_LargeObjectUpdates_StayWithinBytes(t *testing.T) {
	const bound = 2 << 20
	b, _ := openTestStore(t, Options{WatchWindowBytes: bound})
	task := mustCreate(t, b, newTask("big"))
	blob := strings.Repeat("x", 128<<10)
	for i := range 100 {
		task.Annotations = map[string]string{"blob": blob, "n": strconv.Itoa(i)}
		var err error
		if task, err = b.Update(context.Background(), task); err != nil {
			t.Fatal(err)
		}
	}
	b.hub.mu.Lock()
	n, bytes := b.hub.window.n, b.hub.window.bytes
	b.hub.mu.Unlock()
	if bytes > bound || n >= 100 {
		t.Errorf("window holds %d events, %d bytes after 100 updates of 128 KiB; want at most %d bytes", n, bytes, bound)
	}
	t.Logf("window: %d events, %d bytes", n, bytes)
}

// The window keeps no bytes for an event that is still its task's last
// write: a replay reads that from the store. A later write hands the
// window the record it replaces, so older revisions replay as they were.
func TestWatch_ReplayOfLatestEvents_ReadsStoreAndKeepsOlderRevisions(t *testing.T) {
	b, _ := openTestStore(t, Options{})
	ctx := context.Background()
	a := mustCreate(t, b, newTask("a"))
	a.Status.State = v1.Scheduled
	a, err := b.UpdateStatus(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	a.Status.State = v1.Running
	if _, err := b.UpdateStatus(ctx, a); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, b, newTask("b"))

	b.hub.mu.Lock()
	held := map[int64]bool{}
	for i := 0; i < b.hub.window.n; i++ {
		e := b.hub.window.buf[(b.hub.window.head+i)%len(b.hub.window.buf)]
		held[e.rev] = e.data != nil || e.obj != nil
	}
	b.hub.mu.Unlock()
	if want := map[int64]bool{1: true, 2: true, 3: false, 4: false}; !reflect.DeepEqual(held, want) {
		t.Errorf("events holding their own copy %v, want %v (only those overwritten since)", held, want)
	}

	w, err := b.Watch(ctx, "0")
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
	w, err = b.Watch(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for _, want := range []struct {
		typ   watch.EventType
		name  string
		rv    string
		state v1.State
	}{
		{watch.Modified, "a", "2", v1.Scheduled},
		{watch.Modified, "a", "3", v1.Running},
		{watch.Added, "b", "4", v1.Pending},
	} {
		ev := nextEvent(t, w)
		got := ev.Object.(*v1.Task)
		if ev.Type != want.typ || got.Name != want.name || got.ResourceVersion != want.rv || got.Status.State != want.state {
			t.Errorf("event %s %s rv %s %s, want %s %s rv %s %s", ev.Type, got.Name, got.ResourceVersion, got.Status.State,
				want.typ, want.name, want.rv, want.state)
		}
	}
	expectNoEvent(t, w)
}

// Two writes of one task in one commit: the first is not the latest, so
// the window keeps its bytes.
func TestMarkLatest_SameTaskTwiceInOneCommit(t *testing.T) {
	evs := []event{
		{typ: watch.Modified, name: "a", rev: 1},
		{typ: watch.Modified, name: "b", rev: 2},
		{typ: watch.Modified, name: "a", rev: 3},
		{typ: watch.Deleted, name: "c", rev: 4},
	}
	markLatest(evs)
	var got []bool
	for _, e := range evs {
		got = append(got, e.latest)
	}
	if want := []bool{false, true, true, false}; !reflect.DeepEqual(got, want) {
		t.Errorf("latest %v, want %v", got, want)
	}
}
