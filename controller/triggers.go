package controller

import "sync"

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
// bare names (so it deduplicates and serialises per task); the first reason
// recorded while a task waits is the one its reconcile reports.
type triggerBook struct {
	mu      sync.Mutex
	reasons map[string]string
}

func newTriggerBook() *triggerBook {
	return &triggerBook{reasons: map[string]string{}}
}

func (b *triggerBook) add(name, reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, queued := b.reasons[name]; !queued {
		b.reasons[name] = reason
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
	return reason
}
