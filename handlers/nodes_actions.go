package handlers

import (
	"net/http"

	"github.com/gorilla/mux"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/scheduler"
)

// The node actions are POSTs to a subresource, as kubectl's verbs, rather
// than a PATCH of spec.unschedulable: the v1 API has no PATCH, and drain
// is an action, not a field. The body is ignored (send {} as
// application/json: the browser guard wants a JSON Content-Type on every
// POST).

// cordon sets spec.unschedulable: the scheduler binds nothing more here;
// what is bound here stays. It answers the Node.
func (n *nodeAPI) cordon(w http.ResponseWriter, r *http.Request) {
	n.setUnschedulable(w, r, true)
}

// uncordon clears spec.unschedulable. It answers the Node.
func (n *nodeAPI) uncordon(w http.ResponseWriter, r *http.Request) {
	n.setUnschedulable(w, r, false)
}

func (n *nodeAPI) setUnschedulable(w http.ResponseWriter, r *http.Request, unschedulable bool) {
	if n.ctl == nil {
		n.fail(w, r, notACluster())
		return
	}
	name := mux.Vars(r)["name"]
	if err := n.ctl.SetNodeUnschedulable(r.Context(), name, unschedulable); err != nil {
		n.fail(w, r, err)
		return
	}
	node, err := n.ctl.GetNode(r.Context(), name)
	if err != nil {
		n.fail(w, r, err)
		return
	}
	node.APIVersion, node.Kind = v1.APIVersion, v1.KindNode
	n.log.Info("node schedulability set", "node", name, "unschedulable", unschedulable)
	writeJSON(w, http.StatusOK, node)
}

// drain cordons the node and binds its movable tasks to other nodes
// (scheduler.Drain); it answers a NodeDrain: the node, the tasks moved
// with their new node, and the tasks left with the reason.
func (n *nodeAPI) drain(w http.ResponseWriter, r *http.Request) {
	if n.ctl == nil {
		n.fail(w, r, notACluster())
		return
	}
	name := mux.Vars(r)["name"]
	out, err := scheduler.Drain(r.Context(), n.store, n.ctl, name)
	if err != nil {
		n.fail(w, r, err)
		return
	}
	n.log.Info("node drained", "node", name, "moved", len(out.Moved), "left", len(out.Left))
	writeJSON(w, http.StatusOK, out)
}
