package controller

import (
	"reflect"
	"testing"

	"github.com/cubelet/cubelet/runtime"
)

// The container cache keeps only cubelet's labels: Docker merges an
// image's labels into its containers'.
func TestNewObservedContainer_KeepsOnlyCubeletLabels(t *testing.T) {
	labels := map[string]string{LabelTask: "web", LabelManaged: managedValue, "org.opencontainers.image.version": "1.0"}
	oc := newObservedContainer(runtime.Container{ID: "c1", Labels: labels}, "1", "")
	want := map[string]string{LabelTask: "web", LabelManaged: managedValue}
	if !reflect.DeepEqual(oc.Labels, want) || !reflect.DeepEqual(oc.Container.Labels, want) {
		t.Errorf("labels %v / %v, want %v", oc.Labels, oc.Container.Labels, want)
	}
	if len(labels) != 3 {
		t.Errorf("the engine's map was changed: %v", labels)
	}
	own := map[string]string{LabelTask: "web"}
	if got := newObservedContainer(runtime.Container{ID: "c2", Labels: own}, "1", ""); reflect.ValueOf(got.Labels).UnsafePointer() != reflect.ValueOf(own).UnsafePointer() {
		t.Errorf("a map of cubelet's labels only was copied")
	}
}
