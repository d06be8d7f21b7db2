package controller

import (
	"testing"
	"time"
)

func TestExpectations_StatusPending_WaitsEvenPastAnExpiredContainer(t *testing.T) {
	e := newExpectations(time.Second)
	now := time.Unix(1000, 0)
	e.expectStart("web", "c1", now)
	e.statusPending("web")
	// The container expectation has expired, which alone would have the
	// sync read the engine and decide: a write in flight still holds it.
	if v, wait := e.check("web", "5", now.Add(time.Hour)); v != cachesBehind || wait <= 0 {
		t.Fatalf("check = %v, %v; want cachesBehind with a safety-net wait", v, wait)
	}
}

// The controller's end of a handed-over write (statusCommitted): set the
// resourceVersion to wait for, then look at the cache once; the echo's
// handler covers a cache that reaches it later.
func TestExpectations_StatusWritten(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		name        string
		written     string // the write's resourceVersion
		cached      string // the task cache's when the controller looks
		wantRequeue bool   // the waiting sync is requeued at once
	}{
		{name: "echo already in the cache", written: "7", cached: "7", wantRequeue: true},
		{name: "echo still to come", written: "7", cached: "6"},
		{name: "nothing written (gone, fenced)", written: "", cached: "6", wantRequeue: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newExpectations(time.Minute)
			e.statusPending("web")
			if v, _ := e.check("web", tc.cached, now); v != cachesBehind {
				t.Fatalf("check with a write in flight = %v, want cachesBehind", v)
			}
			requeue := e.statusWritten("web", tc.written, now)
			if e.statusObserved("web", tc.cached) {
				requeue = true
			}
			if requeue != tc.wantRequeue {
				t.Fatalf("requeued at once = %v, want %v", requeue, tc.wantRequeue)
			}
			if tc.wantRequeue {
				if _, ok := e.tasks["web"]; ok {
					t.Fatal("entry kept with nothing left to wait for")
				}
				return
			}
			if v, _ := e.check("web", tc.cached, now); v != cachesBehind {
				t.Fatalf("check before the echo = %v, want cachesBehind", v)
			}
			if !e.statusObserved("web", tc.written) {
				t.Fatal("the echo did not requeue the waiting sync")
			}
			if v, _ := e.check("web", tc.written, now); v != cachesCurrent {
				t.Fatalf("check after the echo = %v, want cachesCurrent", v)
			}
		})
	}
}

func TestExpectations_StatusFailed_ReleasesTheTask(t *testing.T) {
	e := newExpectations(time.Minute)
	now := time.Unix(1000, 0)
	e.statusPending("web")
	_, _ = e.check("web", "6", now)
	e.statusFailed("web")
	if v, _ := e.check("web", "6", now); v != cachesCurrent {
		t.Fatalf("check after a failed write = %v, want cachesCurrent (the retry decides again)", v)
	}
}
