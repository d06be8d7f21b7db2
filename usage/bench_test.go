package usage_test

import (
	"context"
	"fmt"
	"testing"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime/fake"
	"github.com/cubelet/cubelet/store"
	"github.com/cubelet/cubelet/usage"
)

// BenchmarkRound_2000RunningTasks is one sampling round over a real bbolt
// store of 2000 running tasks: the store list (the part that grows with
// the number of tasks) and the bounded 64 reads of a fake engine.
func BenchmarkRound_2000RunningTasks(b *testing.B) {
	ctx := context.Background()
	st, err := store.OpenDir(b.TempDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	r := fake.New(fake.WithImages(img))
	for i := range 2000 {
		name := fmt.Sprintf("t%04d", i)
		id, err := r.CreateContainer(ctx, runtimeSpec(name))
		if err != nil {
			b.Fatal(err)
		}
		if err := r.StartContainer(ctx, id); err != nil {
			b.Fatal(err)
		}
		task := &v1.Task{Spec: v1.TaskSpec{Image: img}}
		task.Name = name
		created, err := st.Create(ctx, task)
		if err != nil {
			b.Fatal(err)
		}
		created.Status.State, created.Status.ContainerID = v1.Running, id
		if _, err := st.UpdateStatus(ctx, created); err != nil {
			b.Fatal(err)
		}
	}
	s := usage.New(st, r, usage.Options{})
	b.ResetTimer()
	for b.Loop() {
		if err := s.Round(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
