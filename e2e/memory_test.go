package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// rssBoundMiB is what the server may hold, at its peak, after one task
// with a 250 KiB annotation was updated 1,000 times, and growthBoundMiB
// what its peak may still grow over the second 500 updates. Every update
// is a store event carrying the whole object, so a watch window bounded in
// events alone keeps 1,000 × 250 KiB ≈ 250 MB of them (issue 11: 1 MB
// annotations took RSS from 25 MiB to 1.7 GiB, and it stayed).
//
// The harness builds cubelet with -race, whose shadow memory multiplies
// the heap several times, so the figures are the race build's. Measured
// on the 2-core CI machine: with the window bounded in bytes (64 MiB) the
// peak levels off at 440–450 MiB after 300 updates and grows by 3–4 MiB
// over the second half; before that bound it rose by about 125 MiB every
// 100 updates (695 MiB at 500, 1,314 MiB at 1,000).
const (
	rssBoundMiB    = 600
	growthBoundMiB = 64
)

// TestMemory_LargeObjectUpdatedAThousandTimes_RSSStaysBounded PUTs one
// task with an annotation just under Kubernetes' 256 KiB total, then
// changes only its labels 1,000 times, and reads the server's peak RSS
// (VmHWM) from /proc: it must stay under rssBoundMiB, and level off.
func TestMemory_LargeObjectUpdatedAThousandTimes_RSSStaysBounded(t *testing.T) {
	e := newEnv(t)
	c := e.start()
	pid := c.cmd.Process.Pid
	startRSS, _ := procMemoryMiB(t, pid)

	note := strings.Repeat("x", 250<<10)
	task := e.task("big", func(task *v1.Task) {
		task.Annotations = map[string]string{"example.com/note": note}
		task.Labels = map[string]string{"update": "0"}
	})
	c.put(task)
	c.waitRunning("big")

	const updates = 1000
	var halfwayPeak float64
	for i := 1; i <= updates; i++ {
		task.Labels = map[string]string{"update": strconv.Itoa(i)}
		if _, code := c.put(task); code != http.StatusOK {
			t.Fatalf("update %d: code %d, want 200", i, code)
		}
		if i%100 == 0 {
			rss, hwm := procMemoryMiB(t, pid)
			t.Logf("after %4d updates: VmRSS %.1f MiB, VmHWM %.1f MiB", i, rss, hwm)
			if hwm >= rssBoundMiB {
				t.Fatalf("peak RSS %.1f MiB after %d updates, want under %d MiB: the server keeps what the updates carried "+
					"(is the store's watch window bounded in bytes?)", hwm, i, rssBoundMiB)
			}
			if i == updates/2 {
				halfwayPeak = hwm
			}
		}
	}
	got, _ := c.get("big")
	if got.Labels["update"] != strconv.Itoa(updates) || got.Annotations["example.com/note"] != note {
		t.Fatalf("the task does not hold the last update: labels %v, note of %d bytes", got.Labels, len(got.Annotations["example.com/note"]))
	}
	rss, peak := procMemoryMiB(t, pid)
	t.Logf("RSS at start %.1f MiB, after %d updates of a 250 KiB object %.1f MiB, peak %.1f MiB (bound %d MiB), %.1f MiB at halfway",
		startRSS, updates, rss, peak, rssBoundMiB, halfwayPeak)
	if peak >= rssBoundMiB {
		t.Fatalf("peak RSS %.1f MiB, want under %d MiB", peak, rssBoundMiB)
	}
	if grew := peak - halfwayPeak; grew >= growthBoundMiB {
		t.Fatalf("peak RSS grew by %.1f MiB over the last %d updates, want under %d MiB: memory grows with the number of updates",
			grew, updates/2, growthBoundMiB)
	}
}

// procMemoryMiB reads a process's resident set (VmRSS) and its peak
// (VmHWM) from /proc/<pid>/status, in MiB.
func procMemoryMiB(t *testing.T, pid int) (rss, hwm float64) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the server's memory: %v", err)
	}
	defer f.Close()
	found := 0
	for s := bufio.NewScanner(f); s.Scan(); {
		key, value, ok := strings.Cut(s.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kB, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
		if err != nil {
			t.Fatalf("/proc/%d/status %s: %v", pid, key, err)
		}
		if key == "VmRSS" {
			rss = kB / 1024
		} else {
			hwm = kB / 1024
		}
		found++
	}
	if found != 2 {
		t.Fatalf("/proc/%d/status lacks VmRSS or VmHWM", pid)
	}
	return rss, hwm
}
