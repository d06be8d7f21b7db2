package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/store/etcdtest"
)

// --fence is on by default; a cubelet on etcd then hands its node lease
// to the controller, and --fence=false hands it nothing (no fencing).
func TestServe_FenceFlag_HandsTheLeaseToTheController(t *testing.T) {
	var f storeFlags
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	f.addFlags(fs)
	if err := fs.Parse(nil); err != nil || !f.fence {
		t.Fatalf("--fence default %v (err %v), want true", f.fence, err)
	}

	binary := etcdtest.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := etcdtest.Start(ctx, binary)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	defer srv.Stop()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, fence := range []bool{true, false} {
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		f := storeFlags{}
		f.addFlags(fs)
		args := []string{"--etcd-endpoints", srv.Endpoint(), "--node-name", "n1"}
		if !fence {
			args = append(args, "--fence=false")
		}
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		tasks, err := f.open(ctx, t.TempDir(), logger)
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		c, err := f.startCluster(ctx, tasks, controller.NewTaskInformer(tasks, time.Hour), reg, logger)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case fence && (c.fence == nil || !c.fence.Held()):
			t.Errorf("--fence: controller lease %v, want the node's lease, held", c.fence)
		case !fence && c.fence != nil:
			t.Errorf("--fence=false: controller lease %v, want none", c.fence)
		}
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range families {
			found = found || m.GetName() == "cubelet_node_lease_held"
		}
		if !found {
			t.Errorf("cubelet_node_lease_held not in the serve registry")
		}
		c.stop()
		_ = tasks.Close()
	}
}
