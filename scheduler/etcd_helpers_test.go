package scheduler

import (
	"context"
	"github.com/cubelet/cubelet/controller"
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

// withInformer returns opts with a running informer over opts.Tasks, as
// serve shares the controller's; it stops with the test.
func withInformer(t *testing.T, ctx context.Context, opts Options) Options {
	t.Helper()
	informer := controller.NewTaskInformer(opts.Tasks, time.Hour)
	ictx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); informer.RunWithContext(ictx) }()
	t.Cleanup(func() { stop(); <-done })
	opts.Informer = informer
	return opts
}
