package handlers

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/scheduler"
	"github.com/cubelet/cubelet/store"
)

// NodeSource is the store capability of a cluster: its nodes (the etcd
// store). The embedded store has none.
type NodeSource interface {
	ListNodes(ctx context.Context) (*v1.NodeList, error)
	GetNode(ctx context.Context, name string) (*v1.Node, error)
}

// registerNodes adds GET /v1/nodes and GET /v1/nodes/{name}, and the
// node actions POST /v1/nodes/{name}/cordon, /uncordon and /drain
// (nodes_actions.go). On a store without nodes they answer 404 with a
// Status saying why, so `cubelet get nodes` against a single host says
// "not a cluster" rather than "no such path".
func registerNodes(r *mux.Router, cfg Config) {
	src, _ := store.As[NodeSource](cfg.Store)
	ctl, _ := store.As[scheduler.DrainNodes](cfg.Store)
	n := &nodeAPI{taskAPI: taskAPI{store: cfg.Store, log: cfg.Logger}, src: src, ctl: ctl}
	r.HandleFunc("/v1/nodes", n.list).Methods(http.MethodGet)
	r.HandleFunc("/v1/nodes/{name}", n.get).Methods(http.MethodGet)
	r.HandleFunc("/v1/nodes/{name}/cordon", n.cordon).Methods(http.MethodPost)
	r.HandleFunc("/v1/nodes/{name}/uncordon", n.uncordon).Methods(http.MethodPost)
	r.HandleFunc("/v1/nodes/{name}/drain", n.drain).Methods(http.MethodPost)
}

type nodeAPI struct {
	taskAPI
	src NodeSource
	// ctl cordons and drains; nil on a single host.
	ctl scheduler.DrainNodes
}

func notACluster() error {
	err := apierrors.NewNotFound(v1.NodeResource, "")
	err.ErrStatus.Message = "this cubelet is a single host (the embedded store): nodes exist only in a cluster, started with --etcd-endpoints"
	err.ErrStatus.Details = &metav1.StatusDetails{Group: v1.NodeResource.Group, Kind: v1.NodeResource.Resource}
	return err
}

func (n *nodeAPI) list(w http.ResponseWriter, r *http.Request) {
	if n.src == nil {
		n.fail(w, r, notACluster())
		return
	}
	list, err := n.src.ListNodes(r.Context())
	if err != nil {
		n.fail(w, r, err)
		return
	}
	if list.Items == nil {
		list.Items = []v1.Node{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (n *nodeAPI) get(w http.ResponseWriter, r *http.Request) {
	if n.src == nil {
		n.fail(w, r, notACluster())
		return
	}
	node, err := n.src.GetNode(r.Context(), mux.Vars(r)["name"])
	if err != nil {
		n.fail(w, r, err)
		return
	}
	node.APIVersion, node.Kind = v1.APIVersion, v1.KindNode
	writeJSON(w, http.StatusOK, node)
}

// clusterNodeName is the serving cubelet's node name when its store is a
// cluster's (the etcd store's instance identity is its node name), and ""
// on a single host.
func clusterNodeName(s store.Interface) string {
	c, ok := store.As[interface {
		NodeSource
		InstanceID() string
	}](s)
	if !ok {
		return ""
	}
	return c.InstanceID()
}
