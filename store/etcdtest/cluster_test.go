package etcdtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestCluster_MemberKilledAndRestarted starts three members, kills the
// leader, writes through the two left (a quorum) once they have elected
// one, starts the killed
// member again and reads the writes from it alone.
func TestCluster_MemberKilledAndRestarted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := StartCluster(ctx, Binary(t), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	if got := len(c.Endpoints()); got != 3 {
		t.Fatalf("%d endpoints, want 3", got)
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader.Kill()
	if leader.Running() {
		t.Fatal("killed member still running")
	}
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	// Writes fail while the two left elect a leader, then succeed.
	for i := range 10 {
		for {
			pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			_, err := cli.Put(pctx, fmt.Sprintf("k%d", i), "v")
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("put with one member of three down: %v\n%s", err, c.Output())
			}
		}
	}
	next, err := c.Leader(ctx)
	if err != nil || next == leader {
		t.Fatalf("leader after the kill: %v, %v (killed %s)", next, err, leader.Name)
	}
	if err := leader.Start(ctx); err != nil {
		t.Fatal(err)
	}
	one, err := newClient([]string{leader.Endpoint()})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	resp, err := one.Get(ctx, "k", clientv3.WithPrefix())
	if err != nil || resp.Count != 10 {
		t.Fatalf("restarted member: %v, %d keys, want 10", err, resp.Count)
	}
}
