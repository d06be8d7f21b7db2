package store

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

func TestUpdate(t *testing.T) {
	deleting := metav1.NewTime(fixedNow)
	tests := []struct {
		name string
		edit func(x *v1.Task)
		// want* describe the result relative to the stored task (the
		// store's first revision, generation 1); wantRV counts revisions
		// from the store's opening.
		wantErr        func(error) bool
		wantRV         int64
		wantGeneration int64
		check          func(t *testing.T, got *v1.Task)
	}{
		{
			name:           "SameSpec_DoesNotBumpGeneration",
			edit:           func(x *v1.Task) { x.Labels = map[string]string{"team": "a"} },
			wantRV:         2,
			wantGeneration: 1,
		},
		{
			name:           "ChangedSpec_BumpsGeneration",
			edit:           func(x *v1.Task) { x.Spec.Image = "nginx:1.28" },
			wantRV:         2,
			wantGeneration: 2,
		},
		{
			name: "SemanticallyEqualQuantity_IsNoChange",
			edit: func(x *v1.Task) {
				q := resource.MustParse("1000m")
				x.Spec.Resources.CPU = &q
			},
			wantRV:         1,
			wantGeneration: 1,
		},
		{
			name:           "NothingChanged_WritesNothing",
			edit:           func(x *v1.Task) {},
			wantRV:         1,
			wantGeneration: 1,
		},
		{
			name:           "EmptyResourceVersion_IsNoPrecondition",
			edit:           func(x *v1.Task) { x.ResourceVersion = ""; x.Finalizers = []string{v1.FinalizerContainers} },
			wantRV:         2,
			wantGeneration: 1,
		},
		{
			name:    "StaleResourceVersion_Conflict",
			edit:    func(x *v1.Task) { x.ResourceVersion = "0"; x.Spec.Image = "x" },
			wantErr: apierrors.IsConflict,
		},
		{
			name:    "OtherUID_Conflict",
			edit:    func(x *v1.Task) { x.UID = "someone-else"; x.Spec.Image = "x" },
			wantErr: apierrors.IsConflict,
		},
		{
			name:    "Missing_NotFound",
			edit:    func(x *v1.Task) { x.Name = "missing" },
			wantErr: apierrors.IsNotFound,
		},
		{
			name: "StatusAndDeletionTimestamp_AreKeptAsStored",
			edit: func(x *v1.Task) {
				x.Status.State = v1.Failed
				x.DeletionTimestamp = &deleting
				x.Annotations = map[string]string{"note": "x"}
			},
			wantRV:         2,
			wantGeneration: 1,
			check: func(t *testing.T, got *v1.Task) {
				if got.Status.State != v1.Pending || got.DeletionTimestamp != nil {
					t.Errorf("status %q deletionTimestamp %v", got.Status.State, got.DeletionTimestamp)
				}
			},
		},
	}
	forEachBackend(t, func(t *testing.T, be backend) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				b := be.open(t, Options{})
				in := newTask("web")
				q := resource.MustParse("1")
				in.Spec.Resources.CPU = &q
				stored := mustCreate(t, b, in)
				w, err := b.Watch(context.Background(), stored.ResourceVersion)
				if err != nil {
					t.Fatalf("Watch: %v", err)
				}
				defer w.Stop()

				edited := stored.DeepCopy()
				tc.edit(edited)
				got, err := b.Update(context.Background(), edited)
				if tc.wantErr != nil {
					if !tc.wantErr(err) {
						t.Fatalf("err %v", err)
					}
					if b.written(t) != 1 {
						t.Errorf("failed update spent a revision")
					}
					return
				}
				if err != nil {
					t.Fatalf("Update: %v", err)
				}
				if got.ResourceVersion != b.rv(tc.wantRV) || got.Generation != tc.wantGeneration {
					t.Errorf("rv %s generation %d, want %s %d", got.ResourceVersion, got.Generation, b.rv(tc.wantRV), tc.wantGeneration)
				}
				if got.UID != stored.UID || !got.CreationTimestamp.Equal(&stored.CreationTimestamp) {
					t.Errorf("uid or creationTimestamp changed: %+v", got.ObjectMeta)
				}
				if tc.check != nil {
					tc.check(t, got)
				}
				if b.rv(tc.wantRV) == stored.ResourceVersion {
					expectNoEvent(t, w)
				} else if ev := summarize(nextEvent(t, w)); ev != (eventSummary{watch.Modified, "web", b.rv(tc.wantRV)}) {
					t.Errorf("event %+v", ev)
				}
			})
		}
	})
}

func TestUpdateStatus(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(x *v1.Task)
		wantErr func(error) bool
		wantRV  int64 // revisions from the store's opening
	}{
		{
			name:   "NewStatus_WrittenWithoutBumpingGeneration",
			edit:   func(x *v1.Task) { x.Status.State = v1.Running; x.Status.ObservedGeneration = 1 },
			wantRV: 2,
		},
		{
			name: "SpecAndLabelsInRequest_AreIgnored",
			edit: func(x *v1.Task) {
				x.Status.State = v1.Running
				x.Spec.Image = "other"
				x.Labels = map[string]string{"a": "b"}
			},
			wantRV: 2,
		},
		{
			name:   "EqualStatus_WritesNothing",
			edit:   func(x *v1.Task) {},
			wantRV: 1,
		},
		{
			name: "TimeDifferingBelowStoredPrecision_WritesNothing",
			edit: func(x *v1.Task) {
				x.Status.StartTime = &metav1.Time{Time: fixedNow.Add(-time.Minute + 300*time.Millisecond)}
			},
			wantRV: 1,
		},
		{
			name:    "StaleResourceVersion_Conflict",
			edit:    func(x *v1.Task) { x.ResourceVersion = "0"; x.Status.State = v1.Running },
			wantErr: apierrors.IsConflict,
		},
		{
			name:    "Missing_NotFound",
			edit:    func(x *v1.Task) { x.Name = "missing" },
			wantErr: apierrors.IsNotFound,
		},
	}
	forEachBackend(t, func(t *testing.T, be backend) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				b := be.open(t, Options{})
				in := newTask("web")
				in.Status.StartTime = &metav1.Time{Time: fixedNow.Add(-time.Minute)}
				stored := mustCreate(t, b, in)
				edited := stored.DeepCopy()
				tc.edit(edited)
				got, err := b.UpdateStatus(context.Background(), edited)
				if tc.wantErr != nil {
					if !tc.wantErr(err) {
						t.Fatalf("err %v", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("UpdateStatus: %v", err)
				}
				if got.ResourceVersion != b.rv(tc.wantRV) || got.Generation != 1 {
					t.Errorf("rv %s generation %d, want %s 1", got.ResourceVersion, got.Generation, b.rv(tc.wantRV))
				}
				if got.Spec.Image != stored.Spec.Image || len(got.Labels) != 0 {
					t.Errorf("UpdateStatus changed more than status: %+v", got)
				}
				if stored := mustGet(t, b, "web"); !reflect.DeepEqual(got, stored) {
					t.Errorf("returned %+v\nstored %+v", got, stored)
				}
			})
		}
	})
}

func TestDelete(t *testing.T) {
	tests := []struct {
		name       string
		finalizers []string
		uid        func(stored *v1.Task) string
		wantErr    func(error) bool
		wantGone   bool
		wantEvent  watch.EventType
	}{
		{
			name:      "NoFinalizers_RemovesAtOnce",
			wantGone:  true,
			wantEvent: watch.Deleted,
		},
		{
			name:       "WithFinalizers_SetsDeletionTimestamp",
			finalizers: []string{v1.FinalizerContainers},
			wantEvent:  watch.Modified,
		},
		{
			name:      "MatchingUID_Removes",
			uid:       func(s *v1.Task) string { return string(s.UID) },
			wantGone:  true,
			wantEvent: watch.Deleted,
		},
		{
			name:    "OtherUID_Conflict",
			uid:     func(*v1.Task) string { return "other" },
			wantErr: apierrors.IsConflict,
		},
	}
	forEachBackend(t, func(t *testing.T, be backend) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				b := be.open(t, Options{})
				in := newTask("web")
				in.Finalizers = tc.finalizers
				stored := mustCreate(t, b, in)
				w, err := b.Watch(context.Background(), stored.ResourceVersion)
				if err != nil {
					t.Fatalf("Watch: %v", err)
				}
				defer w.Stop()
				uid := ""
				if tc.uid != nil {
					uid = tc.uid(stored)
				}
				got, err := b.Delete(context.Background(), "web", uid)
				if tc.wantErr != nil {
					if !tc.wantErr(err) {
						t.Fatalf("err %v", err)
					}
					mustGet(t, b, "web")
					return
				}
				if err != nil {
					t.Fatalf("Delete: %v", err)
				}
				if got.ResourceVersion != b.rv(2) {
					t.Errorf("returned rv %s, want %s", got.ResourceVersion, b.rv(2))
				}
				_, err = b.Get(context.Background(), "web")
				if gone := apierrors.IsNotFound(err); gone != tc.wantGone {
					t.Errorf("gone %v (err %v), want %v", gone, err, tc.wantGone)
				}
				if !tc.wantGone && (got.DeletionTimestamp == nil || !got.DeletionTimestamp.Time.Equal(fixedNow)) {
					t.Errorf("deletionTimestamp %v", got.DeletionTimestamp)
				}
				if ev := summarize(nextEvent(t, w)); ev != (eventSummary{tc.wantEvent, "web", b.rv(2)}) {
					t.Errorf("event %+v", ev)
				}
			})
		}
	})
}

func TestDelete_Missing_NotFound(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.open(t, Options{})
		if _, err := b.Delete(context.Background(), "nope", ""); !apierrors.IsNotFound(err) {
			t.Fatalf("err %v, want NotFound", err)
		}
	})
}

func TestGracefulDelete_RemovingLastFinalizer_RemovesTask(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.open(t, Options{})
		ctx := context.Background()
		in := newTask("web")
		in.Finalizers = []string{v1.FinalizerContainers}
		mustCreate(t, b, in)
		w, err := b.Watch(ctx, b.rv(1))
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		defer w.Stop()

		marked, err := b.Delete(ctx, "web", "")
		if err != nil {
			t.Fatalf("Delete: %v", err)
		}
		again, err := b.Delete(ctx, "web", "")
		if err != nil {
			t.Fatalf("second Delete: %v", err)
		}
		if again.ResourceVersion != marked.ResourceVersion || !again.DeletionTimestamp.Equal(marked.DeletionTimestamp) {
			t.Errorf("second Delete wrote: rv %s → %s", marked.ResourceVersion, again.ResourceVersion)
		}
		// The controller cannot clear the deletionTimestamp through Update.
		cleared := marked.DeepCopy()
		cleared.DeletionTimestamp = nil
		cleared.Labels = map[string]string{"x": "y"}
		relabeled, err := b.Update(ctx, cleared)
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		if relabeled.DeletionTimestamp == nil {
			t.Errorf("Update cleared deletionTimestamp")
		}

		relabeled.Finalizers = nil
		removed, err := b.Update(ctx, relabeled)
		if err != nil {
			t.Fatalf("Update removing finalizer: %v", err)
		}
		if removed.ResourceVersion != b.rv(4) || len(removed.Finalizers) != 0 {
			t.Errorf("removed %+v", removed.ObjectMeta)
		}
		if _, err := b.Get(ctx, "web"); !apierrors.IsNotFound(err) {
			t.Errorf("Get after last finalizer removed: %v, want NotFound", err)
		}
		var got []eventSummary
		for range 3 {
			got = append(got, summarize(nextEvent(t, w)))
		}
		want := []eventSummary{{watch.Modified, "web", b.rv(2)}, {watch.Modified, "web", b.rv(3)}, {watch.Deleted, "web", b.rv(4)}}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
			}
		}
		expectNoEvent(t, w)
	})
}

// Concurrent writers share commits; a writer whose precondition fails must
// fail alone.
func TestConcurrentUpdates_SameResourceVersion_ExactlyOneWins(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.open(t, Options{})
		stored := mustCreate(t, b, newTask("web"))
		const writers = 32
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				x := stored.DeepCopy()
				x.Spec.Args = []string{string(rune('a' + i))}
				_, errs[i] = b.Update(context.Background(), x)
			}()
		}
		wg.Wait()
		wantOneWinner(t, errs)
		if got := mustGet(t, b, "web"); got.ResourceVersion != b.rv(2) || got.Generation != 2 {
			t.Errorf("stored rv %s generation %d, want %s 2", got.ResourceVersion, got.Generation, b.rv(2))
		}
	})
}

func TestWrite_CancelledContext_ReturnsContextError(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.open(t, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := b.Create(ctx, newTask("web")); !errors.Is(err, context.Canceled) {
			t.Fatalf("Create with cancelled ctx: %v", err)
		}
	})
}

// wantOneWinner checks the outcome of concurrent conditional writes: exactly
// one succeeded and every other one was refused as a Conflict.
func wantOneWinner(t *testing.T, errs []error) {
	t.Helper()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !apierrors.IsConflict(err):
			t.Errorf("err %v, want Conflict", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d updates won, want 1", wins)
	}
}
