package runtime

import (
	"sync"
	"time"
)

// oomRetention bounds how long an OOM notice is kept for a container whose
// destroy event never came (removed while no event stream was up).
const oomRetention = time.Hour

// oomBook remembers the "oom" events Docker sent. Docker 20.10 and later
// lose a container's State.OOMKilled flag when the kernel's OOM notice is
// handled before the exit, but always emit the event; the book puts the
// fact back on the container it belongs to. It is Docker's quirk, so it
// lives here, beside the client, and callers see one Container.OOMKilled.
type oomBook struct {
	mu    sync.Mutex
	kills map[string]time.Time // container ID -> time of its last oom event
}

func newOOMBook() *oomBook { return &oomBook{kills: map[string]time.Time{}} }

// note records one event of the stream.
func (b *oomBook) note(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev.Action {
	case EventOOM:
		for id, at := range b.kills {
			if ev.Time.Sub(at) > oomRetention {
				delete(b.kills, id)
			}
		}
		b.kills[ev.ContainerID] = ev.Time
	case EventDestroy:
		delete(b.kills, ev.ContainerID)
	}
}

// apply marks c OOMKilled when an oom event arrived during its last run:
// the fact belongs to that run, so a container started again after the kill
// is not marked.
func (b *oomBook) apply(c Container) Container {
	if c.Running() || c.OOMKilled {
		return c
	}
	b.mu.Lock()
	at, ok := b.kills[c.ID]
	b.mu.Unlock()
	// The event's time and StartedAt both come from the daemon's clock;
	// StartedAt has nanoseconds, the event may be rounded down a little.
	if ok && !at.Before(c.StartedAt.Add(-time.Second)) {
		c.OOMKilled = true
	}
	return c
}
