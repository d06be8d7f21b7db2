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
	// Started is the container cubelet last created and started: a sync
	// that still sees it "created" is reading a cache that lags behind.
	Started string
}

// restartTracker holds a restartRecord per task UID.
type restartTracker struct {
	mu      sync.Mutex
	records map[types.UID]restartRecord
}

func newRestartTracker() *restartTracker {
	return &restartTracker{records: map[types.UID]restartRecord{}}
}

func (t *restartTracker) get(uid types.UID) restartRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.records[uid]
}

func (t *restartTracker) set(uid types.UID, r restartRecord) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.records[uid] = r
}

func (t *restartTracker) forget(uid types.UID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.records, uid)
}

// nextRecord folds a newly observed exit into the record. It is pure: the
// same exit observed twice leaves the record as it was.
func nextRecord(prev restartRecord, startedAt, finishedAt time.Time, policy BackoffPolicy, jitter func() float64) restartRecord {
	if prev.Exit.Equal(finishedAt) {
		return prev
	}
	crashes := prev.Crashes + 1
	if finishedAt.Sub(startedAt) >= policy.Reset {
		crashes = 0
	}
	return restartRecord{Exit: finishedAt, Crashes: crashes, Jitter: jitter()}
}

func randomJitter() float64 { return rand.Float64() }
