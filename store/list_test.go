package store

import (
	"context"
	"fmt"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// page reads every page of a list with limit, returning the names in the
// order they came and the resourceVersion of each page.
func page(t *testing.T, b *Bolt, opts ListOptions, between func()) (names []string, rvs []string) {
	t.Helper()
	for {
		meta, err := b.ListStream(context.Background(), opts, func(task *v1.Task) error {
			names = append(names, task.Name)
			return nil
		})
		if err != nil {
			t.Fatalf("ListStream %+v: %v", opts, err)
		}
		rvs = append(rvs, meta.ResourceVersion)
		if meta.Continue == "" {
			return names, rvs
		}
		opts.Continue = meta.Continue
		if between != nil {
			between()
		}
	}
}

func TestListStream_WholeAndPaged_SameAsList(t *testing.T) {
	b, _ := openTestStore(t, Options{})
	for i := range 700 { // more than two read chunks
		task := newTask(fmt.Sprintf("t-%04d", i))
		task.Labels = map[string]string{"even": fmt.Sprint(i%2 == 0)}
		mustCreate(t, b, task)
	}
	for _, sel := range []string{"", "even=true"} {
		selector, err := labels.Parse(sel)
		if err != nil {
			t.Fatal(err)
		}
		list, err := b.List(context.Background(), selector)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, it := range list.Items {
			want = append(want, it.Name)
		}
		for _, limit := range []int64{0, 1, 7, 256, 350, 700, 1000} {
			got, rvs := page(t, b, ListOptions{Selector: selector, Limit: limit}, nil)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("selector %q limit %d: %d names, want %d in List's order", sel, limit, len(got), len(want))
			}
			for _, rv := range rvs {
				if rv != list.ResourceVersion {
					t.Errorf("selector %q limit %d: page at %s, want the list's %s", sel, limit, rv, list.ResourceVersion)
				}
			}
		}
	}
}

// TestListStream_PagingUnderWrites: while pages are read, other tasks are
// created (before and after the cursor), deleted and rewritten; every task
// that exists throughout is handed out exactly once, and no name twice.
func TestListStream_PagingUnderWrites(t *testing.T) {
	b, _ := openTestStore(t, Options{})
	ctx := context.Background()
	const stable = 400
	for i := range stable {
		mustCreate(t, b, newTask(fmt.Sprintf("s-%04d", i)))
	}
	for i := range 100 {
		mustCreate(t, b, newTask(fmt.Sprintf("s-%04d-gone", i)))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Rewrite a stable task, add one anywhere in the key order,
			// remove one of the doomed ones.
			cur, err := b.Get(ctx, fmt.Sprintf("s-%04d", i%stable))
			if err != nil {
				t.Error(err)
				return
			}
			cur.Status.Message = fmt.Sprint(i)
			if _, err := b.UpdateStatus(ctx, cur); err != nil {
				t.Error(err)
				return
			}
			if _, err := b.Create(ctx, newTask(fmt.Sprintf("s-%04d-new-%d", (i*7919)%stable, i))); err != nil {
				t.Error(err)
				return
			}
			if i < 100 {
				if _, err := b.Delete(ctx, fmt.Sprintf("s-%04d-gone", i), ""); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	pages := 0
	names, _ := page(t, b, ListOptions{Limit: 13}, func() {
		pages++
		if pages%3 == 0 {
			// Let the writer get ahead between pages.
			if _, err := b.Create(ctx, newTask(fmt.Sprintf("s-0000-between-%d", pages))); err != nil {
				t.Error(err)
			}
		}
	})
	close(stop)
	wg.Wait()
	seen := map[string]int{}
	for _, n := range names {
		seen[n]++
	}
	for n, c := range seen {
		if c != 1 {
			t.Errorf("%s listed %d times", n, c)
		}
	}
	for i := range stable {
		if n := fmt.Sprintf("s-%04d", i); seen[n] != 1 {
			t.Errorf("%s listed %d times, want once", n, seen[n])
		}
	}
	if pages < stable/13 {
		t.Errorf("only %d pages", pages)
	}
}

func TestListStream_BadContinue_BadRequest(t *testing.T) {
	b, _ := openTestStore(t, Options{})
	mustCreate(t, b, newTask("a"))
	for _, token := range []string{"x", "!!!", encodeContinue(0, "a"), "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiJhIn0", encodeContinue(99, "a")} {
		_, err := b.ListStream(context.Background(), ListOptions{Continue: token}, func(*v1.Task) error { return nil })
		if !apierrors.IsBadRequest(err) {
			t.Errorf("continue %q: err %v, want BadRequest", token, err)
		}
	}
	if _, err := b.ListStream(context.Background(), ListOptions{Limit: -1}, func(*v1.Task) error { return nil }); !apierrors.IsBadRequest(err) {
		t.Errorf("limit -1: err %v, want BadRequest", err)
	}
}

// A continue token lives as long as the watch window keeps the events
// after its revision, as etcd's lives until compaction; then 410.
func TestListStream_ContinueAfterWindow_Expired(t *testing.T) {
	b, _ := openTestStore(t, Options{WatchWindow: 5})
	for i := range 10 {
		mustCreate(t, b, newTask(fmt.Sprintf("t-%02d", i)))
	}
	meta, err := b.ListStream(context.Background(), ListOptions{Limit: 3}, func(*v1.Task) error { return nil })
	if err != nil || meta.Continue == "" {
		t.Fatalf("first page: %+v, %v", meta, err)
	}
	for i := range 5 {
		mustCreate(t, b, newTask(fmt.Sprintf("u-%02d", i)))
	}
	if _, err := b.ListStream(context.Background(), ListOptions{Limit: 3, Continue: meta.Continue}, func(*v1.Task) error { return nil }); err != nil {
		t.Fatalf("continue with the window holding every later event: %v", err)
	}
	mustCreate(t, b, newTask("v"))
	_, err = b.ListStream(context.Background(), ListOptions{Limit: 3, Continue: meta.Continue}, func(*v1.Task) error { return nil })
	if !apierrors.IsResourceExpired(err) {
		t.Errorf("continue past the window: err %v, want 410 Expired", err)
	}
}
