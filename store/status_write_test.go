package store

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// TestUpdateStatusReturnsStoredForm: the status write skips decoding the
// whole task after encoding it, so check that what it returns (and what
// it publishes) is still exactly what a later Get reads: sub-second times
// truncated, empty collections dropped, the rest of the task untouched.
func TestUpdateStatusReturnsStoredForm(t *testing.T) {
	b, _ := openTestStore(t, Options{})
	ctx := context.Background()
	in := newTask("fast")
	in.Labels = map[string]string{"app": "web"}
	in.Spec.Args = []string{"--listen", ":8080"}
	created := mustCreate(t, b, in)
	w, err := b.Watch(ctx, created.ResourceVersion)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	st := created.DeepCopy()
	now := metav1.NewTime(time.Date(2026, 3, 1, 12, 0, 1, 123456789, time.UTC))
	exit := int32(0)
	st.Status = v1.TaskStatus{
		State:       v1.Running,
		ContainerID: "abc",
		StartTime:   &now,
		ExitCode:    &exit,
		HostPorts:   []v1.HostPort{},
		Conditions: []metav1.Condition{{
			Type: "Ready", Status: metav1.ConditionTrue, Reason: "Started", LastTransitionTime: now,
		}},
	}
	got, err := b.UpdateStatus(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	read, err := b.Get(ctx, "fast")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, read) {
		t.Errorf("UpdateStatus returned\n%#v\nGet reads\n%#v", got, read)
	}
	ev := nextEvent(t, w)
	if !reflect.DeepEqual(ev.Object, read) {
		t.Errorf("watch sent\n%#v\nGet reads\n%#v", ev.Object, read)
	}
	if got.Generation != created.Generation || !reflect.DeepEqual(got.Spec, created.Spec) || !reflect.DeepEqual(got.Labels, created.Labels) {
		t.Errorf("status write changed more than the status: %#v", got)
	}

	// The same status with a time that differs below a second is no write.
	again := got.DeepCopy()
	later := metav1.NewTime(now.Add(500 * time.Millisecond))
	again.Status.StartTime = &later
	same, err := b.UpdateStatus(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if same.ResourceVersion != got.ResourceVersion {
		t.Errorf("an unchanged status was written: rv %s → %s", got.ResourceVersion, same.ResourceVersion)
	}
	expectNoEvent(t, w)
}

// TestStatusSplice: a status write from a task as the store returned it
// is spliced into the stored bytes without a decode, and the bytes are
// what encoding the task afresh gives; a caller whose task differs from
// the record in more than its status falls back to the decode, which
// writes the status alone.
func TestStatusSplice(t *testing.T) {
	b, _ := openTestStore(t, Options{})
	ctx := context.Background()
	in := newTask("splice")
	// A label named like the field the splice rewrites.
	in.Labels = map[string]string{"resourceVersion": "1", "app": "web"}
	created := mustCreate(t, b, in)

	st := created.DeepCopy()
	st.Status.State = v1.Running
	st.Status.ContainerID = "abc"
	status, err := normalizedStatus(st.Name, &st.Status)
	if err != nil {
		t.Fatal(err)
	}
	splice, err := newStatusSplice(st, status)
	if err != nil || splice == nil {
		t.Fatalf("newStatusSplice: %v %v", splice, err)
	}
	stored, err := json.Marshal(created)
	if err != nil {
		t.Fatal(err)
	}
	out, ok := splice.apply(stored, 7)
	if !ok || out.event != watch.Modified {
		t.Fatalf("splice over the record it was made from: ok %v, event %q", ok, out.event)
	}
	want := out.obj.DeepCopy()
	wantData, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(out.data) != string(wantData) || want.ResourceVersion != "7" || want.Labels["resourceVersion"] != "1" {
		t.Errorf("spliced\n%s\nwant\n%s", out.data, wantData)
	}
	if _, ok := splice.apply(out.data, 8); ok {
		t.Errorf("splice applied over a record at another revision")
	}

	// Through the store: the returned task is what Get reads.
	got, err := b.UpdateStatus(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	read, err := b.Get(ctx, "splice")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, read) || read.Status.ContainerID != "abc" {
		t.Errorf("UpdateStatus returned\n%#v\nGet reads\n%#v", got, read)
	}

	// A caller that changed the spec too: only the status is written.
	other := read.DeepCopy()
	other.Spec.Image = "other:1"
	other.Status.ContainerID = "def"
	got, err = b.UpdateStatus(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Image != created.Spec.Image || got.Status.ContainerID != "def" {
		t.Errorf("status write with a changed spec stored image %q, container %q", got.Spec.Image, got.Status.ContainerID)
	}
	// A stale resourceVersion is still a conflict.
	if _, err := b.UpdateStatus(ctx, other); !apierrors.IsConflict(err) {
		t.Errorf("status write at a stale resourceVersion: %v, want a conflict", err)
	}
}
