package store

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// A write neither modifies the task it is given nor keeps it: the
// controller hands the store a shallow copy of its cached task, whose
// maps and slices are the cache's.
func TestWrites_LeaveTheCallersTaskAlone(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.open(t, Options{})
		ctx := context.Background()
		in := newTask("web")
		in.Labels = map[string]string{"app": "web"}
		in.Spec.Args = []string{"--listen", ":8080"}
		given := in.DeepCopy()
		stored := mustCreate(t, b, in)
		if !equality.Semantic.DeepEqual(in, given) {
			t.Fatalf("Create modified its argument:\n got %+v\nwant %+v", in, given)
		}

		for _, write := range []struct {
			name string
			do   func(*v1.Task) (*v1.Task, error)
			edit func(*v1.Task)
		}{
			{"Update", func(t *v1.Task) (*v1.Task, error) { return b.Update(ctx, t) }, func(t *v1.Task) { t.Labels["tier"] = "front" }},
			{"UpdateStatus", func(t *v1.Task) (*v1.Task, error) { return b.UpdateStatus(ctx, t) }, func(t *v1.Task) {
				t.Status.State, t.Status.Message = v1.Running, "up"
			}},
		} {
			arg := stored.DeepCopy()
			write.edit(arg)
			given := arg.DeepCopy()
			got, err := write.do(arg)
			if err != nil {
				t.Fatalf("%s: %v", write.name, err)
			}
			if !equality.Semantic.DeepEqual(arg, given) {
				t.Fatalf("%s modified its argument:\n got %+v\nwant %+v", write.name, arg, given)
			}
			// What the caller does with its task afterwards is not the store's.
			arg.Labels["app"], arg.Spec.Args[0], arg.Status.Message = "changed", "changed", "changed"
			read, err := b.Get(ctx, "web")
			if err != nil {
				t.Fatal(err)
			}
			if read.Labels["app"] != "web" || read.Spec.Args[0] != "--listen" || read.Status.Message == "changed" {
				t.Fatalf("after %s the store kept the caller's task: labels %v args %v message %q", write.name, read.Labels, read.Spec.Args, read.Status.Message)
			}
			stored = got
		}
	})
}
