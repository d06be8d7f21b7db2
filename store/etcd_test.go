package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// Tests of the etcd backend's own machinery: what the conformance suite
// cannot say because bbolt has no such thing (compaction, progress
// notifications, several stores on one etcd, values written by others).

// rawClient is a plain client of the package's etcd server, for writing
// behind the store's back.
func rawClient(t *testing.T) *clientv3.Client {
	t.Helper()
	c, err := sharedEtcd(t).Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func compact(t *testing.T, c *clientv3.Client, rev int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact to %d: %v", rev, err)
	}
}

func TestEtcd_WatchFromCompactedRevision_ExpiredThenListAndWatchWork(t *testing.T) {
	e := openTestEtcd(t, EtcdOptions{})
	ctx := context.Background()
	first := mustCreate(t, e, newTask("a"))
	mustCreate(t, e, newTask("b"))
	mustCreate(t, e, newTask("c"))
	// Compacting at R keeps R: the event of b, the first one after a, is
	// gone only once the compaction is past it.
	compact(t, rawClient(t), etcdRevision(t, e))

	_, err := e.Watch(ctx, first.ResourceVersion)
	if !apierrors.IsResourceExpired(err) {
		t.Fatalf("Watch from %s after compaction: %v, want 410 Expired", first.ResourceVersion, err)
	}
	if _, err := e.WatchSelected(ctx, first.ResourceVersion, labels.Everything()); !apierrors.IsResourceExpired(err) {
		t.Fatalf("WatchSelected from %s after compaction: %v, want 410 Expired", first.ResourceVersion, err)
	}
	// What a reflector does next: list, and watch from the list.
	list, err := e.List(ctx, nil)
	if err != nil || len(list.Items) != 3 {
		t.Fatalf("List after compaction: %d items, %v", len(list.Items), err)
	}
	w, err := e.Watch(ctx, list.ResourceVersion)
	if err != nil {
		t.Fatalf("Watch from the list's revision %s: %v", list.ResourceVersion, err)
	}
	defer w.Stop()
	d := mustCreate(t, e, newTask("d"))
	if got := summarize(nextEvent(t, w)); got != (eventSummary{watch.Added, "d", d.ResourceVersion}) {
		t.Errorf("event %+v", got)
	}
}

// compactingLW is the controller's task ListerWatcher with a compaction
// slipped in after its first list: the watch from that list's revision
// finds it compacted, as after a long disconnection.
type compactingLW struct {
	store Interface
	raw   *clientv3.Client
	lists atomic.Int32
	late  func() // writes between the list and the compaction
}

func (lw *compactingLW) IsWatchListSemanticsUnSupported() bool { return true }

func (lw *compactingLW) List(metav1.ListOptions) (k8sruntime.Object, error) {
	list, err := lw.store.List(context.Background(), labels.Everything())
	if err != nil {
		return nil, err
	}
	if lw.lists.Add(1) == 1 {
		lw.late()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := lw.raw.Get(ctx, "compact")
		if err != nil {
			return nil, err
		}
		if _, err := lw.raw.Compact(ctx, resp.Header.Revision); err != nil {
			return nil, err
		}
	}
	return list, nil
}

func (lw *compactingLW) Watch(options metav1.ListOptions) (watch.Interface, error) {
	return lw.store.Watch(context.Background(), options.ResourceVersion)
}

// The "a compaction answers 410 and the informers relist": the
// informer's watch gets 410, it lists again and ends up with the task
// written between its first list and the compaction.
func TestEtcd_Compaction_InformerRelists(t *testing.T) {
	e := openTestEtcd(t, EtcdOptions{})
	mustCreate(t, e, newTask("before"))
	lw := &compactingLW{store: e, raw: rawClient(t), late: func() {
		// Two: the compaction keeps its own revision's event.
		mustCreate(t, e, newTask("late"))
		mustCreate(t, e, newTask("later"))
	}}
	informer := cache.NewSharedIndexInformerWithOptions(lw, &v1.Task{}, cache.SharedIndexInformerOptions{ObjectDescription: "tasks"})
	arrived := make(chan struct{})
	var once sync.Once
	_, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		if obj.(*v1.Task).Name == "late" {
			once.Do(func() { close(arrived) })
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go informer.RunWithContext(ctx)
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatalf("the informer never saw the task written before the compaction (%d lists)", lw.lists.Load())
	}
	if n := lw.lists.Load(); n < 2 {
		t.Errorf("the informer listed %d times, want a relist after the 410", n)
	}
}

// etcd's progress notifications become BOOKMARKs of WatchSelected, at
// the etcd revision, even when no task changed; Watch sends none.
func TestEtcd_ProgressNotify_Bookmark(t *testing.T) {
	e := openTestEtcd(t, EtcdOptions{ProgressInterval: 20 * time.Millisecond})
	ctx := context.Background()
	mustCreate(t, e, labelled("x", "other"))
	from := formatRevision(etcdRevision(t, e))
	selected, err := e.WatchSelected(ctx, from, labels.SelectorFromSet(labels.Set{"app": "wanted"}))
	if err != nil {
		t.Fatal(err)
	}
	defer selected.Stop()
	all, err := e.Watch(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer all.Stop()

	// A write outside the store's prefix moves etcd's revision and
	// sends no task event: only a progress notification can tell.
	put, err := rawClient(t).Put(ctx, "/elsewhere/key", "v")
	if err != nil {
		t.Fatal(err)
	}
	want := eventSummary{watch.Bookmark, "", formatRevision(put.Header.Revision)}
	if got := summarize(nextEvent(t, selected)); got != want {
		t.Fatalf("WatchSelected sent %+v, want %+v", got, want)
	}
	expectNoEvent(t, all)
}

// The window between a write's read and its transaction: another node
// writes the task there. A precondition on the resourceVersion read
// then answers 409; a write without one is applied to the newer task.
func TestEtcd_TxnLostToAnotherWriter(t *testing.T) {
	prefix := fmt.Sprintf("/test/txn-%d/", etcdStores.Add(1))
	mine := openTestEtcd(t, EtcdOptions{Prefix: prefix, NodeName: "node-1"})
	other := openTestEtcd(t, EtcdOptions{Prefix: prefix, NodeName: "node-2"})
	ctx := context.Background()
	stored := mustCreate(t, mine, newTask("web"))

	var raced atomic.Int32
	otherWrites := func(cur *v1.Task) { cur.Labels = map[string]string{"written-by": "node-2"} }
	mine.beforeCommit = func(name string) {
		if raced.Add(1) != 1 {
			return
		}
		cur := mustGet(t, other, name)
		otherWrites(cur)
		if _, err := other.Update(ctx, cur); err != nil {
			t.Errorf("the other node's update: %v", err)
		}
	}

	edited := stored.DeepCopy()
	edited.Spec.Image = "nginx:1.28"
	if _, err := mine.Update(ctx, edited); !apierrors.IsConflict(err) {
		t.Fatalf("update whose transaction lost the race: %v, want 409 Conflict", err)
	}
	if got := mustGet(t, mine, "web"); got.Spec.Image != stored.Spec.Image || got.Labels["written-by"] != "node-2" {
		t.Fatalf("after the conflict: image %s labels %v, want the other node's write alone", got.Spec.Image, got.Labels)
	}

	raced.Store(0)
	otherWrites = func(cur *v1.Task) { cur.Annotations = map[string]string{"by": "node-2"} }
	status := mustGet(t, mine, "web")
	status.ResourceVersion = ""
	status.Labels = nil
	status.Status.State = v1.Running
	got, err := mine.UpdateStatus(ctx, status)
	if err != nil {
		t.Fatalf("status write without a precondition, after a lost race: %v", err)
	}
	if got.Status.State != v1.Running || got.Labels["written-by"] != "node-2" || got.Annotations["by"] != "node-2" || raced.Load() != 2 {
		t.Errorf("status write, retried on the newer task: state %s labels %v annotations %v (%d attempts, want 2)", got.Status.State, got.Labels, got.Annotations, raced.Load())
	}
	if again := mustGet(t, other, "web"); !reflect.DeepEqual(again, got) {
		t.Errorf("the other node reads\n%+v\nwant\n%+v", again, got)
	}
}

// Two nodes on one etcd updating one task from one resourceVersion:
// exactly one write wins, every other gets 409.
func TestEtcd_TwoNodesSameResourceVersion_ExactlyOneWins(t *testing.T) {
	prefix := fmt.Sprintf("/test/nodes-%d/", etcdStores.Add(1))
	nodes := []*Etcd{
		openTestEtcd(t, EtcdOptions{Prefix: prefix, NodeName: "node-1"}),
		openTestEtcd(t, EtcdOptions{Prefix: prefix, NodeName: "node-2"}),
	}
	stored := mustCreate(t, nodes[0], newTask("web"))
	const writers = 16
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := stored.DeepCopy()
			x.Spec.Args = []string{strconv.Itoa(i)}
			_, errs[i] = nodes[i%2].Update(context.Background(), x)
		}()
	}
	wg.Wait()
	wantOneWinner(t, errs)
	if got := mustGet(t, nodes[1], "web"); got.Generation != 2 {
		t.Errorf("generation %d, want 2", got.Generation)
	}
}

// A value that is not what the store wrote (a flipped byte, another
// program's key under the prefix) is an ErrCorrupt naming the key, on
// every path: never a task.
func TestEtcd_DamagedValue_ErrorNeverData(t *testing.T) {
	e := openTestEtcd(t, EtcdOptions{})
	raw := rawClient(t)
	ctx := context.Background()
	mustCreate(t, e, newTask("good"))
	w, err := e.Watch(ctx, formatRevision(etcdRevision(t, e)))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	resp, err := raw.Get(ctx, e.key("good"))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("raw get: %v", err)
	}
	value := resp.Kvs[0].Value
	flipped := append([]byte(nil), value...)
	flipped[len(flipped)-3] ^= 0x20
	for _, tc := range []struct {
		name, key string
		value     []byte
	}{
		{"flipped byte", e.key("good"), flipped},
		{"no checksum", e.key("short"), []byte("{}")},
		{"another task's value", e.key("moved"), value},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := raw.Put(ctx, tc.key, string(tc.value)); err != nil {
				t.Fatal(err)
			}
			name := tc.key[len(e.tasks):]
			if got, err := e.Get(ctx, name); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Get: %v, %v; want ErrCorrupt", got, err)
			}
			if _, err := e.List(ctx, nil); !errors.Is(err, ErrCorrupt) {
				t.Errorf("List: %v, want ErrCorrupt", err)
			}
			if _, err := e.Update(ctx, newTask(name)); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Update: %v, want ErrCorrupt", err)
			}
			if _, err := raw.Delete(ctx, tc.key); err != nil {
				t.Fatal(err)
			}
		})
	}
	// The watch saw the damaged write: an ERROR, and the stream ends.
	ev := nextEvent(t, w)
	if status, ok := ev.Object.(*metav1.Status); ev.Type != watch.Error || !ok || status.Code != 500 {
		t.Fatalf("watch sent %s %T, want an ERROR with a 500 Status", ev.Type, ev.Object)
	}
	waitClosed(t, w)
}

func TestEtcd_InstanceIDIsTheNodeName(t *testing.T) {
	e := openTestEtcd(t, EtcdOptions{NodeName: "worker-7.example"})
	if got := e.InstanceID(); got != "worker-7.example" {
		t.Errorf("InstanceID %q, want the node name", got)
	}
	for _, bad := range []string{"", "Upper", "a/b"} {
		_, err := OpenEtcd(context.Background(), EtcdOptions{Endpoints: []string{sharedEtcd(t).Endpoint()}, NodeName: bad})
		if err == nil {
			t.Errorf("OpenEtcd with node name %q succeeded", bad)
		}
	}
}

func TestEtcd_Unreachable_OpenFailsWithinDialTimeout(t *testing.T) {
	start := time.Now()
	// A port nothing listens on: etcdtest's servers hold theirs.
	_, err := OpenEtcd(context.Background(), EtcdOptions{Endpoints: []string{"http://127.0.0.1:1"}, NodeName: "n", DialTimeout: 500 * time.Millisecond})
	if err == nil {
		t.Fatal("OpenEtcd of an unreachable endpoint succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("OpenEtcd took %v to fail, want about its DialTimeout", d)
	}
}

// List reads in pages, all at the first page's revision: the list is one
// snapshot, whose resourceVersion is that revision.
func TestEtcd_ListPages_OneRevision(t *testing.T) {
	e := openTestEtcd(t, EtcdOptions{PageSize: 2})
	ctx := context.Background()
	for i := range 5 {
		mustCreate(t, e, newTask(fmt.Sprintf("t%d", i)))
	}
	rev := etcdRevision(t, e)
	list, err := e.List(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range list.Items {
		names = append(names, it.Name)
	}
	if want := []string{"t0", "t1", "t2", "t3", "t4"}; !reflect.DeepEqual(names, want) || list.ResourceVersion != formatRevision(rev) {
		t.Fatalf("List = %v at %s, want %v at %d", names, list.ResourceVersion, want, rev)
	}
	// Pages read at rev do not see a later write, wherever it falls.
	mustCreate(t, e, newTask("t2a"))
	got, items, err := e.listAt(ctx, rev, labels.Everything())
	if err != nil {
		t.Fatal(err)
	}
	if got != rev || len(items) != 5 {
		t.Errorf("list at %d: %d tasks at %d, want the 5 of that revision", rev, len(items), got)
	}
}

// BenchmarkEtcdCreate_Parallel is BenchmarkCreate_Parallel on the etcd
// backend: acknowledged creates from 64 concurrent writers, each a read
// and a transaction (etcd batches concurrent proposals itself).
func BenchmarkEtcdCreate_Parallel(b *testing.B) {
	benchmarkParallelCreates(b, openTestEtcd(b, EtcdOptions{}))
}

// ListStream on etcd: whole and paged lists hand out List's tasks in
// List's order, every page at the list's revision, whatever is written
// between pages; tokens from the future are 400, compacted ones 410.
func TestEtcd_ListStream_PagesAreOneSnapshot(t *testing.T) {
	e := openTestEtcd(t, EtcdOptions{PageSize: 16})
	ctx := context.Background()
	for i := range 40 {
		task := newTask(fmt.Sprintf("t-%04d", i))
		task.Labels = map[string]string{"even": fmt.Sprint(i%2 == 0)}
		mustCreate(t, e, task)
	}
	for _, sel := range []string{"", "even=true"} {
		selector, err := labels.Parse(sel)
		if err != nil {
			t.Fatal(err)
		}
		for _, limit := range []int64{0, 1, 7, 16, 40, 100} {
			list, err := e.List(ctx, selector)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, it := range list.Items {
				want = append(want, it.Name)
			}
			opts := ListOptions{Selector: selector, Limit: limit}
			var got []string
			for pages := 1; ; pages++ {
				meta, err := e.ListStream(ctx, opts, func(task *v1.Task) error {
					got = append(got, task.Name)
					return nil
				})
				if err != nil {
					t.Fatalf("selector %q limit %d page %d: %v", sel, limit, pages, err)
				}
				if meta.ResourceVersion != list.ResourceVersion {
					t.Errorf("selector %q limit %d: page at %s, want the list's %s", sel, limit, meta.ResourceVersion, list.ResourceVersion)
				}
				if meta.Continue == "" {
					break
				}
				opts.Continue = meta.Continue
				// Written between pages, at a later revision: not in
				// this list, before or after the cursor.
				mustCreate(t, e, newTask(fmt.Sprintf("t-%04d-%d-%d", pages, limit, len(sel))))
				mustCreate(t, e, newTask(fmt.Sprintf("a-%d-%d-%d", pages, limit, len(sel))))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("selector %q limit %d: got %v\nwant %v", sel, limit, got, want)
			}
		}
	}

	first, err := e.ListStream(ctx, ListOptions{Limit: 5}, func(*v1.Task) error { return nil })
	if err != nil || first.Continue == "" {
		t.Fatalf("first page: %+v %v", first, err)
	}
	future := encodeContinue(etcdRevision(t, e)+1000, "t-0001")
	if _, err := e.ListStream(ctx, ListOptions{Continue: future}, func(*v1.Task) error { return nil }); !apierrors.IsBadRequest(err) {
		t.Errorf("token from the future: %v, want 400", err)
	}
	if _, err := e.ListStream(ctx, ListOptions{Continue: "!!!"}, func(*v1.Task) error { return nil }); !apierrors.IsBadRequest(err) {
		t.Errorf("unreadable token: %v, want 400", err)
	}
	mustCreate(t, e, newTask("z"))
	compact(t, rawClient(t), etcdRevision(t, e))
	if _, err := e.ListStream(ctx, ListOptions{Continue: first.Continue}, func(*v1.Task) error { return nil }); !apierrors.IsResourceExpired(err) {
		t.Errorf("token of a compacted revision: %v, want 410", err)
	}
}
