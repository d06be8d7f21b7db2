package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/scheduler"
	"github.com/cubelet/cubelet/store"
)

// TestE2E_Cluster_CleanRestart_MovesNothing: a cubelet stopped cleanly
// lets its node lease expire instead of revoking it (docs/cluster.md), so
// a restart shorter than the lease TTL plus --node-grace moves nothing.
// Two nodes, 8 Always servers and 8 Never jobs; one node is stopped with
// SIGTERM and started again after --node-grace + 1 s (a revoked lease
// would have had its tasks moved by then). While it is down it stays
// Ready, and through the whole window in which a failover would have
// happened (the stop + TTL + grace + 3 s for the leader's resync and the
// re-binding) every task stays bound where it was, Running; afterwards
// each is in the same container, not restarted, and no job ended
// NodeLost.
func TestE2E_Cluster_CleanRestart_MovesNothing(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := startEtcd(ctx, t)

	nodes := e.startNodes("/e2e-restart/", func(string) string { return srv.Endpoint() }, "e2e-cr-1", "e2e-cr-2")
	front, victim := nodes[0].c, nodes[1]
	for i := range 8 {
		front.put(e.task(fmt.Sprintf("cr-web-%02d", i), restartPolicy(v1.RestartAlways)))
	}
	e.waitBound(front)
	for i := range 8 {
		front.put(e.task(fmt.Sprintf("cr-job-%02d", i), restartPolicy(v1.RestartNever)))
	}
	before := e.waitPlaced(front, time.Minute)
	web, jobs := kinds(before, victim.name)
	if len(web) == 0 || len(jobs) == 0 {
		t.Fatalf("%s runs %d servers and %d jobs; the test wants both (placed: %v)", victim.name, len(web), len(jobs), perNode(before))
	}

	stopped := time.Now()
	if err := victim.c.stop(); err != nil {
		t.Fatalf("SIGTERM %s: %v", victim.name, err)
	}
	t.Logf("%s (%d servers, %d jobs) stopped in %v", victim.name, len(web), len(jobs), time.Since(stopped).Round(time.Millisecond))

	// Nothing may move at any moment of the window, not only at its end.
	// The node is down until restartAt: the length of the outage is what
	// the test is about.
	restartAt := stopped.Add(scheduler.DefaultNodeGrace + time.Second)
	window := stopped.Add(store.DefaultNodeLeaseTTL + scheduler.DefaultNodeGrace + 3*time.Second)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	polls, down := 0, true
	for time.Now().Before(window) {
		polls++
		if down && time.Now().After(restartAt) {
			victim.restart()
			down = false
			t.Logf("%s started again %v after the stop", victim.name, time.Since(stopped).Round(time.Millisecond))
		}
		if down && !front.nodeReadiness()[victim.name] {
			t.Fatalf("%v after a clean stop: %s NotReady (its lease was revoked, not left to expire)", time.Since(stopped).Round(time.Millisecond), victim.name)
		}
		tasks := tasksByName(front)
		for name, p := range before {
			tk, ok := tasks[name]
			if !ok || tk.Spec.NodeName != p.node || tk.Generation != tk.Status.ObservedGeneration || tk.Status.State != v1.Running {
				t.Fatalf("%v after the stop: %s was on %s, now %+v / %s %s", time.Since(stopped).Round(time.Millisecond), name, p.node, tk.Spec.NodeName, tk.Status.State, tk.Status.Reason)
			}
		}
		<-tick.C
	}
	after := e.waitPlaced(front, 30*time.Second)
	for name, p := range before {
		a := after[name]
		if a.node != p.node || a.container != p.container || a.restarts != p.restarts || !a.started.Equal(p.started) {
			t.Errorf("%s: was %s on %s (restarts %d, started %v), now %.12s on %s (restarts %d, started %v)",
				name, fmt.Sprintf("%.12s", p.container), p.node, p.restarts, p.started, a.container, a.node, a.restarts, a.started)
		}
	}
	t.Logf("%d polls over %v: nothing moved, stopped or restarted", polls, time.Since(stopped).Round(time.Millisecond))
}
