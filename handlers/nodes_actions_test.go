package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
)

func readyNode(name string, unschedulable bool) v1.Node {
	return v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1.NodeSpec{Unschedulable: unschedulable},
		Status: v1.NodeStatus{
			Capacity:   map[string]resource.Quantity{"cpu": resource.MustParse("2"), "memory": resource.MustParse("1Gi")},
			Conditions: []metav1.Condition{{Type: v1.NodeReady, Status: metav1.ConditionTrue}},
		},
	}
}

func clusterEnv(t *testing.T, nodes ...v1.Node) (*testEnv, *clusterStore) {
	t.Helper()
	c := &clusterStore{nodes: nodes}
	env := newTestEnv(t, func(s *envSetup) {
		s.wrap = func(st store.Interface) store.Interface {
			c.Interface = st
			return store.WithWriteMetrics(c, prometheus.NewRegistry())
		}
	})
	return env, c
}

func TestNodeActions_SingleHost_404SaysNotACluster(t *testing.T) {
	env := newTestEnv(t)
	for _, action := range []string{"cordon", "uncordon", "drain"} {
		resp, data := env.request(t, http.MethodPost, "/v1/nodes/a/"+action, "{}")
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(data), "--etcd-endpoints") {
			t.Errorf("POST %s: %d %s, want 404 naming --etcd-endpoints", action, resp.StatusCode, data)
		}
	}
}

func TestNodeActions_CordonUncordon_AnswerTheNode(t *testing.T) {
	env, _ := clusterEnv(t, readyNode("a", false))
	resp, data := env.request(t, http.MethodPost, "/v1/nodes/a/cordon", "{}")
	if n := decodeAs[v1.Node](t, data); resp.StatusCode != http.StatusOK || n.Kind != v1.KindNode || !n.Spec.Unschedulable {
		t.Fatalf("cordon: %d %s, want the Node, unschedulable", resp.StatusCode, data)
	}
	resp, data = env.request(t, http.MethodPost, "/v1/nodes/a/cordon", "{}")
	if n := decodeAs[v1.Node](t, data); resp.StatusCode != http.StatusOK || !n.Spec.Unschedulable {
		t.Fatalf("cordon again: %d %s, want 200, still unschedulable", resp.StatusCode, data)
	}
	resp, data = env.request(t, http.MethodPost, "/v1/nodes/a/uncordon", "{}")
	if n := decodeAs[v1.Node](t, data); resp.StatusCode != http.StatusOK || n.Spec.Unschedulable {
		t.Fatalf("uncordon: %d %s, want the Node, schedulable", resp.StatusCode, data)
	}
	for _, action := range []string{"cordon", "uncordon", "drain"} {
		resp, data = env.request(t, http.MethodPost, "/v1/nodes/zz/"+action, "{}")
		wantStatus(t, resp, data, http.StatusNotFound, metav1.StatusReasonNotFound)
	}
	resp, data = env.request(t, http.MethodGet, "/v1/nodes/a/cordon", "")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET cordon: %d %s, want 405", resp.StatusCode, data)
	}
}

// Drain cordons the node, binds its Always and OnFailure tasks to the
// other schedulable node (a new generation), leaves its running Never job
// and its Cube task there, and does not list what has nothing running.
func TestNodeActions_Drain(t *testing.T) {
	env, c := clusterEnv(t, readyNode("a", false), readyNode("b", false), readyNode("c", true))
	ctx := context.Background()
	put := func(name, nodeName string, policy v1.RestartPolicy, desired v1.State, state v1.State) {
		t.Helper()
		tk := &v1.Task{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1.TaskSpec{Image: "busybox", NodeName: nodeName, RestartPolicy: policy, DesiredState: desired}}
		if name == "cube" {
			tk.Annotations = map[string]string{v1.AnnotationRestartAuthority: v1.RestartAuthorityCubeManager}
		}
		v1.SetDefaults(tk)
		created, err := env.store.Create(ctx, tk)
		if err != nil {
			t.Fatal(err)
		}
		if state != "" {
			created.Status.State, created.Status.ObservedGeneration = state, created.Generation
			if _, err := env.store.UpdateStatus(ctx, created); err != nil {
				t.Fatal(err)
			}
		}
	}
	put("web", "a", v1.RestartAlways, v1.Running, v1.Running)
	put("retry", "a", v1.RestartOnFailure, v1.Running, v1.Failed)
	put("job", "a", v1.RestartNever, v1.Running, v1.Running)
	put("cube", "a", v1.RestartNever, v1.Running, v1.Running)
	put("done", "a", v1.RestartNever, v1.Running, v1.Completed)
	put("finished", "a", v1.RestartOnFailure, v1.Running, v1.Completed)
	put("stopped", "a", v1.RestartAlways, v1.Completed, v1.Completed)
	put("elsewhere", "c", v1.RestartAlways, v1.Running, v1.Running)

	resp, data := env.request(t, http.MethodPost, "/v1/nodes/a/drain", "{}")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("drain: %d %s", resp.StatusCode, data)
	}
	d := decodeAs[v1.NodeDrain](t, data)
	if d.Kind != v1.KindNodeDrain || d.Node.Name != "a" || !d.Node.Spec.Unschedulable {
		t.Errorf("drain answered %s: want a NodeDrain of node a, cordoned", data)
	}
	moved := map[string]string{}
	for _, m := range d.Moved {
		moved[m.Name] = m.NodeName
		if got := env.get(t, m.Name); got.Spec.NodeName != m.NodeName || got.Generation != m.Generation || got.Generation != 2 {
			t.Errorf("task %s: node %s generation %d, drain said %s generation %d (want 2)", m.Name, got.Spec.NodeName, got.Generation, m.NodeName, m.Generation)
		}
	}
	if len(moved) != 2 || moved["web"] != "b" || moved["retry"] != "b" {
		t.Errorf("moved %v, want web and retry to b (c is cordoned)", d.Moved)
	}
	left := map[string]string{}
	for _, l := range d.Left {
		left[l.Name] = l.Reason
	}
	if len(left) != 2 || left["job"] != v1.DrainLeftNever || left["cube"] != v1.DrainLeftCubeManaged {
		t.Errorf("left %v, want job (%s) and cube (%s)", d.Left, v1.DrainLeftNever, v1.DrainLeftCubeManaged)
	}
	for _, name := range []string{"job", "cube", "done", "finished", "stopped"} {
		if got := env.get(t, name); got.Spec.NodeName != "a" || got.Generation != 1 {
			t.Errorf("task %s: node %q generation %d, want left on a untouched", name, got.Spec.NodeName, got.Generation)
		}
	}
	if n, _ := c.GetNode(ctx, "a"); !n.Spec.Unschedulable {
		t.Error("node a is not cordoned after the drain")
	}

	// No room anywhere else: left, with the scheduler's reasons.
	env, _ = clusterEnv(t, readyNode("a", false), readyNode("c", true))
	put("web", "a", v1.RestartAlways, v1.Running, v1.Running)
	_, data = env.request(t, http.MethodPost, "/v1/nodes/a/drain", "{}")
	d = decodeAs[v1.NodeDrain](t, data)
	if len(d.Moved) != 0 || len(d.Left) != 1 || d.Left[0].Reason != v1.DrainLeftNoNodeFits || !strings.Contains(d.Left[0].Message, "1 Unschedulable") {
		t.Errorf("drain with no other node: %s, want web left NoNodeFits naming 1 Unschedulable", data)
	}
}
