package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/cubelet/cubelet/runtime"
)

// TestE2E_SIGTERMDuringHeavyReconcile_DrainsAndNextStartAdoptsAll sends
// SIGTERM while 30 just-PUT tasks (100 under make soak) are being reconciled. cubelet must exit 0
// within its drain timeout, leave the store readable, and the next start
// must adopt every container it finds: none removed or recreated, the
// running ones not restarted (same ID, same StartedAt), no restart counted.
func TestE2E_SIGTERMDuringHeavyReconcile_DrainsAndNextStartAdoptsAll(t *testing.T) {
	n := scale(30, 100)
	const drain = 20 * time.Second // the harness's --drain-timeout
	e := newEnv(t)
	c := e.start("--workers", "8")
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if code, err := tryPut(c.base, e.task(fmt.Sprintf("drain-%d", i))); err != nil || code != http.StatusCreated {
				t.Errorf("PUT drain-%d: %d %v", i, code, err)
			}
		})
	}
	wg.Wait()
	// Heavy reconcile: some containers exist, most are still to come.
	eventually(t, 60*time.Second, "reconcile under way", func() (bool, string) {
		cs := e.managed()
		return len(cs) >= 3, fmt.Sprint(len(cs))
	})
	signalled := time.Now()
	if err := c.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, tail(c.logs.String(), 30))
	}
	exitIn := time.Since(signalled)
	if exitIn > drain {
		t.Errorf("exited %s after SIGTERM, beyond the drain timeout %s", exitIn, drain)
	}
	if len(logLines(c.logs.String(), "cubelet stopped; containers keep running")) != 1 {
		t.Errorf("no clean-stop line in the log:\n%s", tail(c.logs.String(), 20))
	}

	left := map[string]runtime.Container{}
	running := 0
	for _, ctr := range e.managed() {
		left[ctr.ID] = ctr
		if ctr.Running() {
			running++
		}
	}
	t.Logf("SIGTERM -> exit 0 in %s; %d containers left (%d running) of %d tasks", exitIn.Round(time.Millisecond), len(left), running, n)

	c2 := e.start("--workers", "8")
	restarted := time.Now()
	tasks := e.waitConverged(c2, 3*time.Minute)
	t.Logf("next start converged all %d tasks in %s", len(tasks), time.Since(restarted).Round(time.Millisecond))
	if len(tasks) != n {
		t.Fatalf("%d tasks after restart, want %d", len(tasks), n)
	}
	now := map[string]runtime.Container{}
	for _, ctr := range e.managed() {
		now[ctr.ID] = ctr
	}
	for id, was := range left {
		ctr, ok := now[id]
		switch {
		case !ok:
			t.Errorf("container %s of %s was removed by the next start", was.Name, was.Labels["io.cubelet.task"])
		case was.Running() && !ctr.StartedAt.Equal(was.StartedAt):
			t.Errorf("container %s was restarted: started %s, then %s", was.Name, was.StartedAt, ctr.StartedAt)
		}
	}
	for _, task := range tasks {
		if task.Status.RestartCount != 0 {
			t.Errorf("%s: restartCount %d, want 0: nothing was restarted", task.Name, task.Status.RestartCount)
		}
	}
	for _, l := range logLines(c2.logs.String(), "reconcile") {
		switch l["action"] {
		case "remove", "restart", "stop":
			t.Errorf("next start did %s on %v: %v", l["action"], l["task"], l)
		}
	}
}
