package scheduler

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/cubelet/cubelet/store"
	"github.com/cubelet/cubelet/store/etcdtest"
)

// testCapacity is every test node's capacity.
var testCapacity = map[string]resource.Quantity{"cpu": resource.MustParse("4"), "memory": resource.MustParse("4Gi")}

// startTestEtcd starts a real etcd for one test (a minute at most) and
// returns the test's context and a function that opens a store under
// prefix as node name; stores, etcd and context end with the test.
func startTestEtcd(t *testing.T, prefix string) (context.Context, func(name string) *store.Etcd) {
	t.Helper()
	binary := etcdtest.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	srv, err := etcdtest.Start(ctx, binary)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	open := func(name string) *store.Etcd {
		t.Helper()
		e, err := store.OpenEtcd(ctx, store.EtcdOptions{Endpoints: []string{srv.Endpoint()}, Prefix: prefix, NodeName: name, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Close() })
		return e
	}
	return ctx, open
}
