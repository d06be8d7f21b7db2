package store

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// UpdateFrom answers as Update whether its guess of the stored task is
// right or stale: a right guess writes; a stale one with a
// resourceVersion precondition answers 409 and leaves the newer task; a
// no-op judged on a stale guess answers the stored task, not the guess.
func TestEtcd_UpdateFrom_GuessRightOrStale(t *testing.T) {
	e := openTestEtcd(t, EtcdOptions{})
	ctx := context.Background()
	cur := mustCreate(t, e, newTask("web"))

	bound := cur.DeepCopy()
	bound.Spec.NodeName = "node-2"
	got, err := e.UpdateFrom(ctx, cur, bound)
	if err != nil {
		t.Fatalf("UpdateFrom with a right guess: %v", err)
	}
	if got.Spec.NodeName != "node-2" || got.Generation != cur.Generation+1 || got.ResourceVersion == cur.ResourceVersion {
		t.Errorf("bound %+v gen %d rv %s, want node-2, generation %d, a new resourceVersion", got.Spec, got.Generation, got.ResourceVersion, cur.Generation+1)
	}
	if stored, _ := e.Get(ctx, "web"); stored.ResourceVersion != got.ResourceVersion || stored.Spec.NodeName != "node-2" {
		t.Errorf("stored %s %q, want %s node-2", stored.ResourceVersion, stored.Spec.NodeName, got.ResourceVersion)
	}

	// cur is stale now: a write under its resourceVersion is a conflict.
	again := cur.DeepCopy()
	again.Spec.NodeName = "node-3"
	if _, err := e.UpdateFrom(ctx, cur, again); !apierrors.IsConflict(err) {
		t.Errorf("UpdateFrom on a stale guess with its resourceVersion: %v, want 409 Conflict", err)
	}
	if stored, _ := e.Get(ctx, "web"); stored.Spec.NodeName != "node-2" {
		t.Errorf("after the conflict the task is on %q, want node-2 kept", stored.Spec.NodeName)
	}

	// A no-op against the stale guess: the answer is what is stored.
	same := cur.DeepCopy()
	same.ResourceVersion = ""
	same.Spec.NodeName = "node-2"
	out, err := e.UpdateFrom(ctx, cur, same)
	if err != nil {
		t.Fatal(err)
	}
	if out.ResourceVersion != got.ResourceVersion || out.Generation != got.Generation {
		t.Errorf("no-op on a stale guess answered rv %s gen %d, want the stored rv %s gen %d", out.ResourceVersion, out.Generation, got.ResourceVersion, got.Generation)
	}

	// The guess itself, unchanged and without a precondition: nothing to
	// write judged on the guess, but the guess is stale, so the write
	// applies to the stored task as Update's would (the caller's spec,
	// unbound again) and never answers the stale guess as stored.
	plain := cur.DeepCopy()
	plain.ResourceVersion = ""
	want, err := e.UpdateFrom(ctx, cur, plain)
	if err != nil {
		t.Fatal(err)
	}
	if want.ResourceVersion == cur.ResourceVersion || want.Spec.NodeName != "" || want.Generation != got.Generation+1 {
		t.Errorf("unchanged stale guess answered rv %s node %q gen %d, want a new write (unbound, generation %d), not the guess (rv %s)",
			want.ResourceVersion, want.Spec.NodeName, want.Generation, got.Generation+1, cur.ResourceVersion)
	}
}

// UpdateStatusFrom, through the metrics wrapper as the controller calls
// it: a right guess writes the status; a stale one under its
// resourceVersion answers 409, as UpdateStatus does.
func TestEtcd_UpdateStatusFrom_ThroughTheMetricsWrapper(t *testing.T) {
	e := openTestEtcd(t, EtcdOptions{})
	s := WithWriteMetrics(e, prometheus.NewRegistry())
	ctx := context.Background()
	cur := mustCreate(t, s, newTask("job"))

	running := cur.DeepCopy()
	running.Status.State = v1.Scheduled
	got, err := UpdateStatusFrom(ctx, s.(StatusUpdater), cur, running)
	if err != nil {
		t.Fatalf("right guess: %v", err)
	}
	if got.Status.State != v1.Scheduled || got.ResourceVersion == cur.ResourceVersion {
		t.Errorf("status %s rv %s, want Scheduled at a new resourceVersion", got.Status.State, got.ResourceVersion)
	}
	stale := cur.DeepCopy()
	stale.Status.State = v1.Failed
	if _, err := UpdateStatusFrom(ctx, s.(StatusUpdater), cur, stale); !apierrors.IsConflict(err) {
		t.Errorf("stale guess under its resourceVersion: %v, want 409 Conflict", err)
	}
	if stored, _ := e.Get(ctx, "job"); stored.Status.State != v1.Scheduled {
		t.Errorf("stored state %s, want Scheduled kept", stored.Status.State)
	}
}
