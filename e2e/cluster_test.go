package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/controller"
)

// TestE2E_Cluster_ScheduleSpreadAndNodeLoss runs one real etcd and three
// cubelets on it, each its own node (--node-name) on the one Docker
// daemon, their containers told apart by io.cubelet.instance. 30 tasks
// PUT through one cubelet are bound by the leader's scheduler over the
// nodes, and each runs in exactly one container, made by the node it is
// bound to. GET /v1/nodes (and `cubelet get nodes`) shows 3 Ready nodes.
// kill -9 of one cubelet: its node is NotReady within the lease TTL and a
// margin (moving its tasks is TestE2E_Cluster_Failover's part).
func TestE2E_Cluster_ScheduleSpreadAndNodeLoss(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := startEtcd(ctx, t)

	names := []string{"e2e-node-1", "e2e-node-2", "e2e-node-3"}
	nodes := map[string]*cubelet{}
	for i, name := range names {
		ne := *e
		ne.dataDir = t.TempDir()
		nodes[name] = ne.start("--etcd-endpoints", srv.Endpoint(), "--etcd-prefix", "/e2e-cluster/",
			"--node-name", name, "--node-labels", fmt.Sprintf("zone=z%d", i))
	}
	front := nodes[names[0]]

	const n = 30
	for i := range n {
		front.put(e.task(fmt.Sprintf("c%02d", i)))
	}
	// A task pinned by selector to one zone lands there.
	front.put(e.task("zoned", func(t *v1.Task) { t.Spec.NodeSelector = map[string]string{"zone": "z2"} }))

	per := map[string]int{}
	eventually(t, 60*time.Second, "every task Running in exactly one container of its node", func() (bool, string) {
		clear(per)
		for _, tk := range front.list() {
			if tk.Spec.NodeName == "" {
				return false, tk.Name + " not bound"
			}
			if tk.Status.State != v1.Running {
				return false, fmt.Sprintf("%s %s/%s on %s", tk.Name, tk.Status.State, tk.Status.Reason, tk.Spec.NodeName)
			}
			cs := e.containers(tk.Name)
			if len(cs) != 1 || !cs[0].Running() || cs[0].Labels[controller.LabelInstance] != tk.Spec.NodeName {
				return false, fmt.Sprintf("%s bound to %s: %d containers %+v", tk.Name, tk.Spec.NodeName, len(cs), cs)
			}
			per[tk.Spec.NodeName]++
		}
		return true, ""
	})
	if len(per) < 2 {
		t.Errorf("tasks per node %v: want them spread over at least 2 nodes", per)
	}
	if zoned, _ := front.get("zoned"); zoned.Spec.NodeName != "e2e-node-3" {
		t.Errorf("zoned bound to %q, want e2e-node-3 (zone=z2)", zoned.Spec.NodeName)
	}
	t.Logf("tasks per node: %v", per)

	readyNodes := func(c *cubelet) map[string]bool {
		var list v1.NodeList
		if code := c.do(http.MethodGet, "/v1/nodes", nil, &list); code != http.StatusOK {
			t.Fatalf("GET /v1/nodes: %d", code)
		}
		ready := map[string]bool{}
		for i := range list.Items {
			ready[list.Items[i].Name] = v1.NodeIsReady(&list.Items[i])
		}
		return ready
	}
	if got := readyNodes(front); len(got) != 3 || !got[names[0]] || !got[names[1]] || !got[names[2]] {
		t.Fatalf("nodes %v, want 3 Ready", got)
	}
	table := front.cli("", "get", "nodes")
	if strings.Count(table, " Ready ") != 3 {
		t.Errorf("cubelet get nodes:\n%s\nwant 3 Ready rows", table)
	}

	// A dead node: NotReady once its lease expires (5 s).
	victim := names[1]
	killed := time.Now()
	nodes[victim].kill9()
	eventually(t, 10*time.Second, victim+" NotReady", func() (bool, string) {
		got := readyNodes(front)
		return !got[victim] && got[names[0]] && got[names[2]], fmt.Sprintf("%v", got)
	})
	t.Logf("%s NotReady %v after kill -9", victim, time.Since(killed).Round(100*time.Millisecond))
}
