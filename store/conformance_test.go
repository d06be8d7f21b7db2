package store

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubelet/cubelet/store/etcdtest"
)

// The conformance suite: every test that states what Interface promises
// runs against each backend in backends, as a subtest named after it
// (TestUpdate/etcd/StaleResourceVersion_Conflict). Tests of one backend's
// own machinery (bbolt's file, lock, damage checks and watch window;
// etcd's compaction and progress notifications) stay outside it.
//
// Revisions are asserted relative to the store's revision when the test
// opened it (testStore.rv): a bbolt store starts at 0, so its assertions
// are the absolute ones they always were; an etcd store shares the etcd
// cluster's revision with every key in it. The suite's tests run one at
// a time, so nothing else writes to that etcd between a test's steps.
var backends = []backend{
	{name: "bolt", open: openBoltBackend},
	{name: "etcd", open: openEtcdBackend},
}

type backend struct {
	name string
	open func(t testing.TB, opts Options) *testStore
}

// testStore is one backend's store as the suite drives it.
type testStore struct {
	Interface
	close func() error
	// base is the store's revision when it was opened.
	base int64
	// current reads the store's revision now.
	current func(t testing.TB) int64
	// watchers counts the watches the store still tracks.
	watchers func() int
}

// Close closes the store (the suite's t.Cleanup does it too; a second
// Close returns the first one's result).
func (s *testStore) Close() error { return s.close() }

// rv is the resourceVersion of the n-th revision after the store opened.
func (s *testStore) rv(n int64) string { return formatRevision(s.base + n) }

// currentRV is the store's revision now, as a resourceVersion.
func (s *testStore) currentRV(t testing.TB) string {
	t.Helper()
	return formatRevision(s.current(t))
}

// written is how many revisions were spent since the store opened.
func (s *testStore) written(t testing.TB) int64 {
	t.Helper()
	return s.current(t) - s.base
}

// forEachBackend runs fn as one subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, be backend)) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { fn(t, be) })
	}
}

func openBoltBackend(t testing.TB, opts Options) *testStore {
	t.Helper()
	b, _ := openTestStore(t, opts)
	return &testStore{
		Interface: b,
		close:     b.Close,
		current:   func(testing.TB) int64 { return b.CurrentRevision() },
		watchers: func() int {
			b.hub.mu.Lock()
			defer b.hub.mu.Unlock()
			return len(b.hub.watchers)
		},
	}
}

// openEtcdBackend opens an Etcd store on the package's etcd server,
// under a prefix of its own. Options that have a meaning for etcd
// (WatchBuffer, Now) are passed on; bbolt's window bounds have none.
func openEtcdBackend(t testing.TB, opts Options) *testStore {
	t.Helper()
	e := openTestEtcd(t, EtcdOptions{WatchBuffer: opts.WatchBuffer, Now: opts.Now})
	return &testStore{
		Interface: e,
		close:     e.Close,
		base:      etcdRevision(t, e),
		current:   func(t testing.TB) int64 { return etcdRevision(t, e) },
		watchers: func() int {
			e.mu.Lock()
			defer e.mu.Unlock()
			return len(e.watchers)
		},
	}
}

func etcdRevision(t testing.TB, e *Etcd) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rev, err := e.CurrentRevision(ctx)
	if err != nil {
		t.Fatalf("etcd revision: %v", err)
	}
	return rev
}

// The package's etcd server: started by the first test that needs it,
// stopped by TestMain. One server for all is what keeps the suite fast;
// each store gets a prefix of its own.
var (
	etcdOnce   sync.Once
	etcdServer *etcdtest.Server
	etcdErr    error
	etcdStores atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if etcdServer != nil {
		etcdServer.Stop()
	}
	os.Exit(code)
}

// sharedEtcd returns the package's etcd server, starting it if needed.
func sharedEtcd(t testing.TB) *etcdtest.Server {
	t.Helper()
	binary := etcdtest.Binary(t)
	etcdOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		etcdServer, etcdErr = etcdtest.Start(ctx, binary)
	})
	if etcdErr != nil {
		t.Fatalf("start etcd: %v", etcdErr)
	}
	return etcdServer
}

// openTestEtcd opens an Etcd store with a fresh prefix on the package's
// etcd server (or on opts.Endpoints when given), at the test clock, and
// closes it with the test.
func openTestEtcd(t testing.TB, opts EtcdOptions) *Etcd {
	t.Helper()
	if len(opts.Endpoints) == 0 {
		opts.Endpoints = []string{sharedEtcd(t).Endpoint()}
	}
	if opts.Prefix == "" {
		opts.Prefix = fmt.Sprintf("/test/%d/", etcdStores.Add(1))
	}
	if opts.NodeName == "" {
		opts.NodeName = "node-1"
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return fixedNow }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := OpenEtcd(ctx, opts)
	if err != nil {
		t.Fatalf("OpenEtcd: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}
