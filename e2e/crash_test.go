package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// TestE2E_Crash_Kill9AtRandomMoments_NothingLostNoDuplicates kills cubelet
// with SIGKILL at a random moment of every round, while that round's PUTs
// (creates, and spec changes that replace containers) are still arriving
// and earlier tasks are still converging, then starts it again on the same
// data dir. At the end every acknowledged write is in the store, and every
// task runs in exactly one container with no orphan left behind.
// CI: 30 tasks over 2 rounds; make soak: 100 tasks over 5 rounds.
func TestE2E_Crash_Kill9AtRandomMoments_NothingLostNoDuplicates(t *testing.T) {
	n, rounds := scale(30, 100), scale(2, 5)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	t.Logf("tasks %d, rounds %d, seed %d", n, rounds, seed)

	e := newEnv(t)
	flags := []string{"--workers", "8"}
	c := e.start(flags...)
	began := time.Now()

	// acked[name] is the last acknowledged value of the task's VERSION env
	// var; tried[name] every value sent, in order. A write that got no
	// answer may or may not have landed, so the stored value must be the
	// acknowledged one or one tried after it.
	var mu sync.Mutex
	acked := map[string]string{}
	tried := map[string][]string{}
	unacked := 0
	write := func(base, name, version string) {
		task := e.task(name, func(t *v1.Task) { t.Spec.Env = []v1.EnvVar{{Name: "VERSION", Value: version}} })
		mu.Lock()
		tried[name] = append(tried[name], version)
		mu.Unlock()
		code, err := tryPut(base, task)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			unacked++
		case code == http.StatusOK || code == http.StatusCreated:
			acked[name] = version
		default:
			t.Errorf("PUT %s: code %d", name, code)
		}
	}

	created := 0
	for round := range rounds {
		// This round's writes: its share of new tasks, and a spec change
		// for a few tasks of earlier rounds, spread over ~1.5s so the kill
		// can land among them.
		var names, versions []string
		for created < n*(round+1)/rounds {
			names, versions = append(names, fmt.Sprintf("crash-%d", created)), append(versions, "r0")
			created++
		}
		for i := 0; round > 0 && i < 3; i++ {
			names = append(names, fmt.Sprintf("crash-%d", rng.IntN(n*round/rounds)))
			versions = append(versions, fmt.Sprintf("r%d", round))
		}
		var wg sync.WaitGroup
		for i := range names {
			delay := time.Duration(rng.Int64N(int64(1500 * time.Millisecond)))
			wg.Go(func() {
				time.Sleep(delay) // spreads the writes; not a synchronisation
				write(c.base, names[i], versions[i])
			})
		}
		killAfter := 300*time.Millisecond + time.Duration(rng.Int64N(int64(2200*time.Millisecond)))
		time.Sleep(killAfter) // the random moment of the kill
		running := len(e.managed())
		c.kill9()
		wg.Wait()
		t.Logf("round %d: killed after %s with %d managed containers", round, killAfter.Round(time.Millisecond), running)
		c = e.start(flags...)
	}

	// Writes that were never acknowledged are sent again, as a client
	// would, so all n tasks exist; the restarted cubelet converges them.
	for i := range n {
		name := fmt.Sprintf("crash-%d", i)
		if _, ok := acked[name]; !ok {
			write(c.base, name, "retry")
		}
	}
	converging := time.Now()
	tasks := e.waitConverged(c, 4*time.Minute)
	t.Logf("converged %d tasks %s after the last restart (%s in all); %d writes unacknowledged",
		len(tasks), time.Since(converging).Round(time.Millisecond), time.Since(began).Round(time.Millisecond), unacked)

	stored := map[string]v1.Task{}
	for _, task := range tasks {
		stored[task.Name] = task
	}
	for name, version := range acked {
		task, ok := stored[name]
		if !ok {
			t.Errorf("acknowledged task %s is lost", name)
			continue
		}
		got := ""
		if len(task.Spec.Env) == 1 {
			got = task.Spec.Env[0].Value
		}
		later := tried[name][slices.Index(tried[name], version):]
		if !slices.Contains(later, got) {
			t.Errorf("task %s: stored VERSION %q, acknowledged %q (tried %v)", name, got, version, tried[name])
		}
	}
	if len(stored) != n {
		t.Errorf("%d tasks stored, want %d", len(stored), n)
	}
	for name := range stored {
		if _, ok := tried[name]; !ok {
			t.Errorf("task %s exists but was never written", name)
		}
	}
}
