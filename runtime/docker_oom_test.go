package runtime

import (
	"testing"
	"time"
)

func TestOOMBook_MarksOnlyTheRunTheEventFellIn(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	b := newOOMBook()
	b.note(Event{ContainerID: "a", Action: EventOOM, Time: t0.Add(2 * time.Second)})

	exited := Container{ID: "a", State: StateExited, ExitCode: 137, StartedAt: t0, FinishedAt: t0.Add(2 * time.Second)}
	if !b.apply(exited).OOMKilled {
		t.Error("an exit after an oom event during the run is not marked OOMKilled")
	}
	running := exited
	running.State = StateRunning
	if b.apply(running).OOMKilled {
		t.Error("a running container is marked OOMKilled")
	}
	// Started again after the kill (an OnFailure job's next run that then
	// exits 0): the fact belonged to the earlier run.
	again := Container{ID: "a", State: StateExited, StartedAt: t0.Add(time.Minute), FinishedAt: t0.Add(2 * time.Minute)}
	if b.apply(again).OOMKilled {
		t.Error("an OOM kill of an earlier run sticks to the container's next run")
	}
	if b.apply(Container{ID: "b", State: StateExited, StartedAt: t0}).OOMKilled {
		t.Error("another container is marked OOMKilled")
	}
}

func TestOOMBook_ForgetsDestroyedAndOldContainers(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	b := newOOMBook()
	b.note(Event{ContainerID: "gone", Action: EventOOM, Time: t0})
	b.note(Event{ContainerID: "gone", Action: EventDestroy, Time: t0.Add(time.Second)})
	// Removed while no stream was up: no destroy event ever comes.
	b.note(Event{ContainerID: "lost", Action: EventOOM, Time: t0})
	b.note(Event{ContainerID: "new", Action: EventOOM, Time: t0.Add(2 * oomRetention)})
	if _, ok := b.kills["gone"]; ok {
		t.Error("a destroyed container is still remembered")
	}
	if _, ok := b.kills["lost"]; ok {
		t.Error("an entry older than the retention is still remembered")
	}
	if len(b.kills) != 1 {
		t.Errorf("book holds %d entries, want 1", len(b.kills))
	}
}
