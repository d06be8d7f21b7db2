package fake_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cubelet/cubelet/runtime"
	"github.com/cubelet/cubelet/runtime/fake"
)

func TestContainerStats_ScriptedWhileRunningZeroOnceExited(t *testing.T) {
	ctx := context.Background()
	r := fake.New(fake.WithImages(img), fake.WithNow(fixedClock()))
	id, err := r.CreateContainer(ctx, spec("a"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	want := runtime.Stats{Time: at, CPUNanos: 5e9, MemoryBytes: 64 << 20, MemoryLimitBytes: 128 << 20}
	if err := r.SetStats("a", want); err != nil {
		t.Fatal(err)
	}
	if got, err := r.ContainerStats(ctx, id); err != nil || got != want {
		t.Fatalf("running: got %+v, %v; want %+v", got, err, want)
	}
	if err := r.Exit(id, 0, false); err != nil {
		t.Fatal(err)
	}
	got, err := r.ContainerStats(ctx, id)
	if err != nil || got.CPUNanos != 0 || got.MemoryBytes != 0 || got.Time.IsZero() {
		t.Fatalf("exited: got %+v, %v; want zeros with a time", got, err)
	}
	if _, err := r.ContainerStats(ctx, "missing"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("missing container: err %v, want ErrNotFound", err)
	}
	if n := r.CallCount(fake.MethodContainerStats); n != 3 {
		t.Fatalf("ContainerStats calls = %d, want 3", n)
	}
}
