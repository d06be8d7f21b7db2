package handlers

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
)

// clusterStore is a store with nodes, as the etcd one: the fake
// NodeSource (and node control) of these tests.
type clusterStore struct {
	store.Interface
	mu    sync.Mutex
	nodes []v1.Node
}

func (c *clusterStore) ListNodes(context.Context) (*v1.NodeList, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := &v1.NodeList{TypeMeta: metav1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindNodeList}}
	for i := range c.nodes {
		l.Items = append(l.Items, *c.nodes[i].DeepCopy())
	}
	return l, nil
}

func (c *clusterStore) GetNode(_ context.Context, name string) (*v1.Node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.nodes {
		if c.nodes[i].Name == name {
			return c.nodes[i].DeepCopy(), nil
		}
	}
	return nil, apierrors.NewNotFound(v1.NodeResource, name)
}

func (c *clusterStore) SetNodeUnschedulable(_ context.Context, name string, unschedulable bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.nodes {
		if c.nodes[i].Name == name {
			c.nodes[i].Spec.Unschedulable = unschedulable
			return nil
		}
	}
	return apierrors.NewNotFound(v1.NodeResource, name)
}

func TestNodes_SingleHost_404SaysNotACluster(t *testing.T) {
	env := newTestEnv(t)
	for _, path := range []string{"/v1/nodes", "/v1/nodes/a"} {
		resp, data := env.request(t, http.MethodGet, path, "")
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(data), "--etcd-endpoints") {
			t.Errorf("GET %s: %d %s, want 404 naming --etcd-endpoints", path, resp.StatusCode, data)
		}
	}
}

func TestNodes_Cluster_ListAndGet(t *testing.T) {
	nodes := []v1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, {ObjectMeta: metav1.ObjectMeta{Name: "b"}}}
	env := newTestEnv(t, func(s *envSetup) {
		s.wrap = func(st store.Interface) store.Interface {
			// Behind the metrics wrapper, as serve wires it.
			return store.WithWriteMetrics(&clusterStore{Interface: st, nodes: nodes}, prometheus.NewRegistry())
		}
	})
	resp, data := env.request(t, http.MethodGet, "/v1/nodes", "")
	list := decodeAs[v1.NodeList](t, data)
	if resp.StatusCode != http.StatusOK || len(list.Items) != 2 || list.Kind != v1.KindNodeList {
		t.Fatalf("GET /v1/nodes: %d %s", resp.StatusCode, data)
	}
	resp, data = env.request(t, http.MethodGet, "/v1/nodes/b", "")
	if n := decodeAs[v1.Node](t, data); resp.StatusCode != http.StatusOK || n.Name != "b" || n.Kind != v1.KindNode {
		t.Fatalf("GET /v1/nodes/b: %d %s", resp.StatusCode, data)
	}
	resp, data = env.request(t, http.MethodGet, "/v1/nodes/zz", "")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(data), `nodes.cubelet \"zz\" not found`) {
		t.Fatalf("GET /v1/nodes/zz: %d %s", resp.StatusCode, data)
	}
}

// clusterInstance is a cluster store whose instance is node "b".
type clusterInstance struct{ *clusterStore }

func (clusterInstance) InstanceID() string { return "b" }

// A Cube POST /tasks to a node of a cluster binds the task to that node;
// on a single host it stays unbound.
func TestCubePost_BindsToTheServingNode(t *testing.T) {
	for _, cluster := range []bool{false, true} {
		env := newTestEnv(t, func(s *envSetup) {
			if cluster {
				s.wrap = func(st store.Interface) store.Interface {
					return store.WithWriteMetrics(clusterInstance{&clusterStore{Interface: st}}, prometheus.NewRegistry())
				}
			}
		})
		id := "266592cd-960d-4091-981c-8c25c44b1018"
		body := `{"ID":"6c3bde30-1c3a-4b8b-8d8e-1d0bde3a1a11","State":1,"Task":{"ID":"` + id + `","Name":"web","State":1,"Image":"nginx:1.25"}}`
		resp, data := env.request(t, http.MethodPost, "/tasks", body)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST /tasks: %d %s", resp.StatusCode, data)
		}
		list, err := env.store.List(context.Background(), nil)
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("list: %v %v", list, err)
		}
		want := ""
		if cluster {
			want = "b"
		}
		if got := list.Items[0].Spec.NodeName; got != want {
			t.Errorf("cluster=%v: spec.nodeName %q, want %q", cluster, got, want)
		}
	}
}
