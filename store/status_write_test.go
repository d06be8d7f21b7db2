package store

import (
	"context"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
