package controller

import (
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
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

// restartRecord is what the controller remembers of a task's crash loop:
// like kubelet's back-off it lives in memory, so a cubelet restart starts
// each loop over at Base.
type restartRecord struct {
	// Exit identifies the exit the record describes (the container's
	// FinishedAt), so re-syncing the same exit counts it once.
	Exit time.Time
	// Crashes counts consecutive quick crashes up to Exit.
	Crashes int
	// Restarted is true once cubelet restarted the container after Exit;
	// a sync that still sees that exit (the cache lags) must not restart
	// it twice.
	Restarted bool
	// Jitter is drawn once per exit, so the retry time is stable.
	Jitter float64
	// Started is the container cubelet last created or started, and
	// StartedAt when: until the container cache shows it, the cache lags
	// behind cubelet's own work and decide waits for it (ReplicaSet's
	// "expectations") rather than act on a world without it.
	Started   string
	StartedAt time.Time
	// Uncounted are restarts cubelet made whose status write has not
	// landed yet; decide adds them to the next status.
	Uncounted int32
	// CountedFor names the last restart decide counted that no status or
	// container shows yet (a vanished container, a restartGeneration), so
	// a retry after a failed action does not count it again.
	CountedFor string
	// UID is the task incarnation the record belongs to.
	UID types.UID
}

// restartTracker holds a restartRecord per task name.
type restartTracker struct {
	mu      sync.Mutex
	records map[string]restartRecord
}

func newRestartTracker() *restartTracker {
	return &restartTracker{records: map[string]restartRecord{}}
}

// get returns the record of the task incarnation uid; a record left by an
// earlier task of the same name does not count.
func (t *restartTracker) get(name string, uid types.UID) restartRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.records[name]
	if r.UID != uid {
		return restartRecord{}
	}
	return r
}

func (t *restartTracker) set(name string, r restartRecord) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.records[name] = r
}

func (t *restartTracker) forget(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.records, name)
}

// nextRecord folds a newly observed exit into the record. It is pure: the
// same exit observed twice leaves the record as it was.
func nextRecord(prev restartRecord, startedAt, finishedAt time.Time, policy BackoffPolicy, jitter func() float64) restartRecord {
	if prev.Exit.Equal(finishedAt) {
		return prev
	}
	next := prev
	next.Crashes++
	if finishedAt.Sub(startedAt) >= policy.Reset {
		next.Crashes = 0
	}
	next.Exit, next.Restarted, next.Jitter = finishedAt, false, jitter()
	return next
}

func randomJitter() float64 { return rand.Float64() }
