package controller

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cubelet/cubelet/runtime"
)

// +k8s:deepcopy-gen=true
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ObservedContainer is a container as the container informer caches it:
// metadata.name is the container ID and metadata.labels its labels, so
// client-go's key functions and indexers work on it unchanged.
type ObservedContainer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Container runtime.Container `json:"container"`
	// LastEvent is the engine event that produced this observation, empty
	// when it came from a list. It names the trigger in the reconcile log.
	LastEvent runtime.EventAction `json:"lastEvent,omitempty"`
}

// +k8s:deepcopy-gen=true
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ObservedContainerList is one list of the engine's managed containers.
type ObservedContainerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []ObservedContainer `json:"items"`
}

func newObservedContainer(c runtime.Container, rv string, event runtime.EventAction) *ObservedContainer {
	c.Labels = ownLabels(c.Labels)
	return &ObservedContainer{
		ObjectMeta: metav1.ObjectMeta{Name: c.ID, Labels: c.Labels, ResourceVersion: rv},
		Container:  c,
		LastEvent:  event,
	}
}

// labelPrefix is the namespace of every label cubelet sets (labels.go).
const labelPrefix = "io.cubelet."

// ownLabels is labels without those cubelet did not set: Docker merges the
// image's labels into the container's (OCI images carry a dozen), and
// nothing reads them from the cache, which holds one container per task.
// labels itself is returned when it has no other.
func ownLabels(labels map[string]string) map[string]string {
	foreign := 0
	for k := range labels {
		if !strings.HasPrefix(k, labelPrefix) {
			foreign++
		}
	}
	if foreign == 0 {
		return labels
	}
	own := make(map[string]string, len(labels)-foreign)
	for k, v := range labels {
		if strings.HasPrefix(k, labelPrefix) {
			own[k] = v
		}
	}
	return own
}
