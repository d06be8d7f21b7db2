package controller

import (
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
)

// BackoffPolicy is the crash-loop back-off between restarts under a restart
// policy, in the spirit of kubelet's CrashLoopBackOff but faster.
type BackoffPolicy struct {
	// Base is the delay after the first quick crash; it doubles with each
	// consecutive one.
	Base time.Duration
	// Max caps the delay.
	Max time.Duration
	// Reset is how long a run must last to count as steady: the restart
	// after a steady run is immediate and the back-off starts over.
	Reset time.Duration
	// Jitter spreads delays by up to this fraction, so crash loops that
	// started together do not restart in lockstep.
	Jitter float64
}

func (p *BackoffPolicy) setDefaults() {
	if p.Base == 0 {
		p.Base = time.Second
	}
	if p.Max == 0 {
		p.Max = 5 * time.Minute
	}
	if p.Reset == 0 {
		p.Reset = 10 * time.Minute
	}
}

// delay is the wait before the restart that follows the given number of
// consecutive quick crashes (0 after a steady run). jitter is in [0,1).
func (p BackoffPolicy) delay(crashes int, jitter float64) time.Duration {
	if crashes <= 0 {
		return 0
	}
	d := p.Base
	for i := 1; i < crashes && d < p.Max; i++ {
		d *= 2
	}
	if d > p.Max {
		d = p.Max
	}
	if p.Jitter > 0 {
		d += time.Duration(float64(d) * p.Jitter * jitter)
	}
	return d
}

// crashRecord is what the controller keeps in memory of a task's crash
// loop: only the back-off delay, as kubelet does. Whether a run ran, how
// often it restarted and how it ended are read from the containers; losing
// this record (a cubelet restart) only starts the back-off over at Base.
type crashRecord struct {
	// uid is the task incarnation the record belongs to.
	uid types.UID
	// exited is the container whose exit was counted last, so re-syncing
	// the same exit counts it once.
	exited string
	// crashes counts consecutive quick crashes up to that exit.
	crashes int
	// jitter is drawn once per exit, so the retry time is stable.
	jitter float64
}

// crashTracker holds a crashRecord per task name.
type crashTracker struct {
	mu      sync.Mutex
	records map[string]crashRecord
}

func newCrashTracker() *crashTracker {
	return &crashTracker{records: map[string]crashRecord{}}
}

// get returns the record of the task incarnation uid; a record left by an
// earlier task of the same name does not count.
func (t *crashTracker) get(name string, uid types.UID) crashRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.records[name]
	if r.uid != uid {
		return crashRecord{}
	}
	return r
}

// set keeps r, or forgets the task when r holds nothing.
func (t *crashTracker) set(name string, r crashRecord) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r.exited == "" {
		delete(t.records, name)
		return
	}
	t.records[name] = r
}

func (t *crashTracker) forget(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.records, name)
}

// nextCrash folds the exit of container c into the record. It is pure: the
// same exit observed twice leaves the record as it was.
func nextCrash(prev crashRecord, task *v1.Task, c *runtime.Container, policy BackoffPolicy, jitter func() float64) crashRecord {
	if prev.uid == task.UID && prev.exited == c.ID {
		return prev
	}
	next := crashRecord{uid: task.UID, exited: c.ID, crashes: 1, jitter: jitter()}
	if prev.uid == task.UID {
		next.crashes = prev.crashes + 1
	}
	if c.FinishedAt.Sub(c.StartedAt) >= policy.Reset {
		next.crashes = 0
	}
	return next
}

func randomJitter() float64 { return rand.Float64() }
