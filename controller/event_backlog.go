package controller

import (
	"sync"

	"github.com/cubelet/cubelet/runtime"
)

// eventBacklog sits between the engine's event stream and the container
// watch. A reader drains the stream into it at once, so cubelet never falls
// behind the engine (Docker, like the fake, ends a subscription whose reader
// lags, and the relist that follows costs a second). The backlog keeps one
// pending event per container — the last, except that a destroy is never
// overwritten — so it is bounded by the number of containers, and a burst of
// create, start for one container costs one inspect.
type eventBacklog struct {
	mu    sync.Mutex
	order []string
	byID  map[string]runtime.Event
	err   error
	ended bool
	ready chan struct{}
}

func newEventBacklog() *eventBacklog {
	return &eventBacklog{byID: map[string]runtime.Event{}, ready: make(chan struct{}, 1)}
}

func (b *eventBacklog) add(ev runtime.Event) {
	b.mu.Lock()
	prev, pending := b.byID[ev.ContainerID]
	switch {
	case !pending:
		b.order = append(b.order, ev.ContainerID)
		b.byID[ev.ContainerID] = ev
	case prev.Action != runtime.EventDestroy:
		b.byID[ev.ContainerID] = ev
	}
	b.mu.Unlock()
	b.signal()
}

// end records why the stream ended; take reports it after the last event.
func (b *eventBacklog) end(err error) {
	b.mu.Lock()
	b.err, b.ended = err, true
	b.mu.Unlock()
	b.signal()
}

func (b *eventBacklog) signal() {
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

// take returns the pending events in arrival order, and whether (and why)
// the stream has ended.
func (b *eventBacklog) take() ([]runtime.Event, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	events := make([]runtime.Event, 0, len(b.order))
	for _, id := range b.order {
		events = append(events, b.byID[id])
	}
	b.order = b.order[:0]
	clear(b.byID)
	return events, b.ended, b.err
}
