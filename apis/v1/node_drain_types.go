package v1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// KindNodeDrain is the kind of the answer of POST /v1/nodes/{name}/drain.
const KindNodeDrain = "NodeDrain"

// Why a drain left a task on the node it drains (DrainedTask.Reason).
const (
	// DrainLeftNever: a restartPolicy Never task whose run has not ended.
	// Moving it would start a second run while the first may still be
	// running (or may have had effects), so it finishes where it runs.
	DrainLeftNever = "RestartPolicyNever"
	// DrainLeftCubeManaged: a task posted through the Cube API. Its
	// manager is its one restart authority and a move is a new run, so it
	// stays where the manager put it.
	DrainLeftCubeManaged = "CubeManaged"
	// DrainLeftNoNodeFits: no other node passes the scheduler's filters
	// (Ready, schedulable, nodeSelector, CPU, memory, host ports).
	DrainLeftNoNodeFits = "NoNodeFits"
	// DrainLeftConflict: the task changed under every attempt to bind it.
	DrainLeftConflict = "Conflict"
)

// +k8s:deepcopy-gen=false

// NodeDrain is what a drain did (docs/cluster.md, "Cordon, uncordon,
// drain"): the node, now cordoned, the tasks bound to another node, and
// the tasks left on it. A task the drain neither moved nor left (stopped,
// being deleted, or whose run has ended) has nothing running to move and
// is not listed.
type NodeDrain struct {
	metav1.TypeMeta `json:",inline"`

	// Node is the drained node as it is after the cordon.
	Node Node `json:"node"`
	// Moved are the tasks this drain bound to another node, by name.
	Moved []DrainedTask `json:"moved"`
	// Left are the tasks still bound to the node that were running or
	// should run, by name; Reason says why each stayed.
	Left []DrainedTask `json:"left"`
}

// +k8s:deepcopy-gen=false

// DrainedTask is one task a drain moved or left.
type DrainedTask struct {
	Name string `json:"name"`
	// NodeName is the node a moved task is now bound to.
	NodeName string `json:"nodeName,omitempty"`
	// Generation is a moved task's metadata.generation after its binding:
	// the new node's run is the run of this generation.
	Generation int64 `json:"generation,omitempty"`
	// Reason and Message say why a task was left (DrainLeft…).
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}
