package store

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// A spec change that races a DELETE (the API read the task before the
// deletionTimestamp was set) must not land on a task being torn down:
// the store refuses it, while the controller can still release the
// finalizer and the user can still edit metadata.
func TestUpdate_TaskBeingDeleted_SpecChangeConflicts_MetadataAndFinalizerStillWork(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.open(t, Options{})
		ctx := context.Background()
		in := newTask("web")
		in.Finalizers = []string{v1.FinalizerContainers}
		before := mustCreate(t, b, in)
		marked, err := b.Delete(ctx, "web", "")
		if err != nil {
			t.Fatalf("Delete: %v", err)
		}

		tests := []struct {
			name string
			from *v1.Task
		}{
			{"read before the delete, no precondition", before},
			{"read after the delete", marked},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				edited := tc.from.DeepCopy()
				edited.ResourceVersion = ""
				edited.Spec.Image = "nginx:1.28"
				if _, err := b.Update(ctx, edited); !apierrors.IsConflict(err) {
					t.Fatalf("spec change of a task being deleted: err %v, want Conflict", err)
				}
				got, err := b.Get(ctx, "web")
				if err != nil {
					t.Fatal(err)
				}
				if got.Spec.Image != before.Spec.Image || got.Generation != before.Generation || got.ResourceVersion != marked.ResourceVersion {
					t.Fatalf("refused update wrote: image %s generation %d rv %s", got.Spec.Image, got.Generation, got.ResourceVersion)
				}
			})
		}

		relabeled := marked.DeepCopy()
		relabeled.Labels = map[string]string{"team": "a"}
		if _, err := b.Update(ctx, relabeled); err != nil {
			t.Fatalf("metadata update of a task being deleted: %v", err)
		}
		released := marked.DeepCopy()
		released.ResourceVersion = ""
		released.Finalizers = nil
		if _, err := b.Update(ctx, released); err != nil {
			t.Fatalf("releasing the finalizer: %v", err)
		}
		if _, err := b.Get(ctx, "web"); !apierrors.IsNotFound(err) {
			t.Fatalf("task after its finalizer went: %v, want NotFound", err)
		}
	})
}
