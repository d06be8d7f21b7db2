package controller

import (
	"strings"
	"sync"
)

// Why a task was queued; the reconcile log names it.
const (
	triggerAPI         = "api"
	triggerResync      = "resync"
	triggerRelist      = "relist"
	triggerDockerEvent = "docker-event"
	triggerBackoff     = "backoff"
	triggerRetry       = "retry"
)

// triggerBook remembers why each queued task was queued. The workqueue holds
// bare names (so it deduplicates and serialises per task); while a task
// waits, the most telling reason recorded for it is the one its reconcile
// reports: a Docker event or a user's change over cubelet's own status
// write or a periodic resync.
type triggerBook struct {
	mu      sync.Mutex
	reasons map[string]string
	peak    int // len(reasons) at its largest since it was last made
}

// regrowAfter is the size past which a map of the controller's in-memory
// books is made anew once it has drained: Go maps never give back what
// they grew to, and a converge of 10,000 tasks left a drained book holding
// the memory of 10,000 entries (issue 14).
const regrowAfter = 1024

func newTriggerBook() *triggerBook {
	return &triggerBook{reasons: map[string]string{}}
}

func (b *triggerBook) add(name, reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if queued, ok := b.reasons[name]; !ok || rank(reason) > rank(queued) {
		b.reasons[name] = reason
		b.peak = max(b.peak, len(b.reasons))
	}
}

// rank orders triggers by how much they tell about why a reconcile ran.
func rank(reason string) int {
	switch {
	case strings.HasPrefix(reason, triggerDockerEvent):
		return 5
	case reason == triggerAPI:
		return 4
	case reason == triggerBackoff:
		return 3
	case reason == triggerRetry:
		return 2
	case reason == triggerRelist, reason == triggerResync:
		return 1
	default:
		return 0
	}
}

func (b *triggerBook) take(name string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	reason, ok := b.reasons[name]
	if !ok {
		return triggerRetry
	}
	delete(b.reasons, name)
	if len(b.reasons) == 0 && b.peak > regrowAfter {
		b.reasons, b.peak = map[string]string{}, 0
	}
	return reason
}
