package handlers

import (
	"net/http"
	"testing"
)

// A re-apply of a manifest that names no node must not unbind a task the
// scheduler bound: that would move it and replace its container.
func TestPutTask_WithoutNodeName_KeepsTheBinding(t *testing.T) {
	env := newTestEnv(t)
	env.put(t, "web", `{"spec":{"image":"nginx","nodeName":"node-a"}}`, http.StatusCreated)

	same := env.put(t, "web", `{"spec":{"image":"nginx"}}`, http.StatusOK)
	if same.Spec.NodeName != "node-a" || same.Generation != 1 {
		t.Fatalf("after a re-apply without nodeName: nodeName %q generation %d, want node-a at 1", same.Spec.NodeName, same.Generation)
	}
	changed := env.put(t, "web", `{"spec":{"image":"nginx:2"}}`, http.StatusOK)
	if changed.Spec.NodeName != "node-a" {
		t.Fatalf("after a spec change without nodeName: nodeName %q, want node-a", changed.Spec.NodeName)
	}
	moved := env.put(t, "web", `{"spec":{"image":"nginx:2","nodeName":"node-b"}}`, http.StatusOK)
	if moved.Spec.NodeName != "node-b" {
		t.Fatalf("an explicit nodeName is taken: got %q, want node-b", moved.Spec.NodeName)
	}
}
