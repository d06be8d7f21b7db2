package scheduler

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
)

// frozenCache is an informer whose cache only the test fills: a cache
// that lags behind every write the scheduler makes.
type frozenCache struct {
	cache.SharedIndexInformer
	store cache.Store
}

func (f *frozenCache) GetStore() cache.Store { return f.store }

func (f *frozenCache) AddEventHandler(cache.ResourceEventHandler) (cache.ResourceEventHandlerRegistration, error) {
	return nil, nil
}

type fixedNodes struct{ nodes []v1.Node }

func (f fixedNodes) ListNodes(context.Context) (*v1.NodeList, error) {
	return &v1.NodeList{Items: f.nodes}, nil
}

// countingStore counts the writes that reach the store.
type countingStore struct {
	store.Interface
	updates atomic.Int32
}

func (c *countingStore) Update(ctx context.Context, t *v1.Task) (*v1.Task, error) {
	c.updates.Add(1)
	return c.Interface.Update(ctx, t)
}

// A pass reads the informer's cache, which may not show the bindings of
// the pass before: those count where they were made, so the next pass
// neither binds the task again nor puts a second one on a full node.
func TestScheduler_PassOnACacheBehindItsBindings_NoDoubleBindNoOvercommit(t *testing.T) {
	ctx := context.Background()
	bolt, err := store.OpenDir(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	tasks := &countingStore{Interface: bolt}
	frozen := &frozenCache{store: cache.NewStore(cache.MetaNamespaceKeyFunc)}
	for _, name := range []string{"a", "b"} {
		tk := task(name, "", "1", "", 0)
		v1.SetDefaults(&tk)
		created, err := bolt.Create(ctx, &tk)
		if err != nil {
			t.Fatal(err)
		}
		if err := frozen.store.Add(created); err != nil {
			t.Fatal(err)
		}
	}
	s := New(Options{Tasks: tasks, Informer: frozen, Nodes: fixedNodes{[]v1.Node{node("n1", true, "1500m", "1Gi", nil)}}})

	for pass := 1; pass <= 3; pass++ {
		if _, err := s.pass(ctx); err != nil {
			t.Fatalf("pass %d: %v", pass, err)
		}
	}
	if n := tasks.updates.Load(); n != 1 {
		t.Fatalf("%d bindings written over 3 passes on a cache that shows none, want 1 (one CPU fits a 1.5-CPU node once)", n)
	}
	bound := 0
	for _, name := range []string{"a", "b"} {
		got, err := bolt.Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.NodeName == "n1" {
			bound++
		}
	}
	if bound != 1 {
		t.Fatalf("%d tasks bound to n1, want 1", bound)
	}
}

func TestScheduler_CachedTasks_AssumptionsEnd(t *testing.T) {
	now := time.Unix(1000, 0)
	cached := task("a", "", "", "", 0)
	cached.UID, cached.ResourceVersion = "uid-a", "5"
	written := cached.DeepCopy()
	written.Spec.NodeName, written.ResourceVersion = "n1", "6"

	for _, tc := range []struct {
		name      string
		cacheRV   string // "" when the task is gone from the cache
		at        time.Duration
		wantNode  string
		wantStays bool
	}{
		{name: "cache behind: the write counts", cacheRV: "5", wantNode: "n1", wantStays: true},
		{name: "cache caught up", cacheRV: "6", wantNode: ""},
		{name: "echo never came", cacheRV: "5", at: -assumeFor, wantNode: ""},
		{name: "task deleted", cacheRV: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frozen := &frozenCache{store: cache.NewStore(cache.MetaNamespaceKeyFunc)}
			if tc.cacheRV != "" {
				c := cached.DeepCopy()
				c.ResourceVersion = tc.cacheRV
				_ = frozen.store.Add(c)
			}
			s := New(Options{Informer: frozen})
			s.assume(written, now.Add(tc.at))
			got := s.cachedTasks(now)
			if tc.cacheRV != "" && (len(got) != 1 || got[0].Spec.NodeName != tc.wantNode) {
				t.Fatalf("cachedTasks = %+v, want one task on node %q", got, tc.wantNode)
			}
			if _, stays := s.assumed["uid-a"]; stays != tc.wantStays {
				t.Fatalf("assumption kept = %v, want %v", stays, tc.wantStays)
			}
		})
	}
}
