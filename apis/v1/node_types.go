package v1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KindNode and KindNodeList are the kinds of the cluster's node objects.
const (
	KindNode     = "Node"
	KindNodeList = "NodeList"
)

// NodeReady is the condition type of a node that renews its lease.
const NodeReady = "Ready"

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Node is one cubelet of a cluster (docs/cluster.md). Each cubelet writes
// its own Node when it starts, attached to an etcd lease it keeps alive:
// when the cubelet stops renewing it, etcd deletes the Node with the lease,
// and the node is then reported NotReady.
type Node struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   NodeSpec   `json:"spec,omitempty"`
	Status NodeStatus `json:"status,omitempty"`
}

// NodeSpec is what the scheduler respects of a node.
type NodeSpec struct {
	// Unschedulable keeps the scheduler from binding new tasks here.
	Unschedulable bool `json:"unschedulable,omitempty"`
}

// NodeStatus is what the node reported when it registered.
type NodeStatus struct {
	// Capacity is the host's CPUs ("cpu") and memory ("memory").
	Capacity map[string]resource.Quantity `json:"capacity,omitempty"`
	// Conditions holds Ready: True while the lease lives.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LeaseID is the etcd lease the Node is attached to (hexadecimal).
	LeaseID string `json:"leaseID,omitempty"`
	// LeaseTTLSeconds is that lease's time to live.
	LeaseTTLSeconds int64 `json:"leaseTTLSeconds,omitempty"`
	// RegisteredTime is when this cubelet process registered.
	RegisteredTime *metav1.Time `json:"registeredTime,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NodeList is a list of Nodes.
type NodeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []Node `json:"items"`
}

// NodeIsReady tells whether n's Ready condition is True.
func NodeIsReady(n *Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == NodeReady {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}
