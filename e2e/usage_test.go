package e2e

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/usage"
)

// TestE2E_Usage_RealContainer_EndpointGaugesAndTop runs a task that
// allocates and touches 64 MiB under a 128 MiB limit and reads its usage
// from Docker's one-shot stats through every surface: the endpoint (memory
// close to what it allocated, a CPU rate after two readings), the gauges,
// and `cubelet top` (about 50% of the limit); a task spinning one core
// reads above half a core. Stopping the task removes its readings and its
// series.
func TestE2E_Usage_RealContainer_EndpointGaugesAndTop(t *testing.T) {
	e := newEnv(t)
	c := e.start("--stats-interval", "500ms")
	limit := resource.MustParse("128Mi")
	c.put(e.task("usage-alloc", func(t *v1.Task) {
		t.Spec.Args = []string{"--alloc-mib", "64"}
		t.Spec.Resources.Memory = &limit
	}))
	c.waitRunning("usage-alloc")

	var u usage.TaskUsage
	eventually(t, 30*time.Second, "two readings of usage-alloc with 64 MiB touched", func() (bool, string) {
		u = usage.TaskUsage{}
		if code := c.do(http.MethodGet, "/v1/tasks/usage-alloc/usage", nil, &u); code != http.StatusOK {
			return false, fmt.Sprintf("GET usage: %d", code)
		}
		if u.Current == nil || u.Current.CPUCores == nil {
			return false, fmt.Sprintf("%d samples, current %+v", len(u.Samples), u.Current)
		}
		return u.Current.MemoryBytes >= 60<<20, fmt.Sprintf("memory %d", u.Current.MemoryBytes)
	})
	if mem := u.Current.MemoryBytes; mem > 96<<20 {
		t.Errorf("memory %d MiB; want close to the 64 MiB allocated", mem>>20)
	}
	if cpu := *u.Current.CPUCores; cpu < 0 || cpu > 4 {
		t.Errorf("cpu %.3f cores of an idle process", cpu)
	}
	if u.Limits.MemoryBytes != 128<<20 {
		t.Errorf("limit %d; want 128 MiB", u.Limits.MemoryBytes)
	}

	metrics, err := c.scrapeMetrics()
	if err != nil {
		t.Fatal(err)
	}
	if got := sum(metrics, "cubelet_task_memory_bytes", map[string]string{"task": "usage-alloc"}); got < 60<<20 {
		t.Errorf("cubelet_task_memory_bytes{task=usage-alloc} = %v; want about 64 MiB", got)
	}

	out := c.cli("", "top")
	fields := strings.Fields(lineOf(out, "usage-alloc"))
	if len(fields) != 4 || !strings.HasSuffix(fields[1], "m") || !strings.HasSuffix(fields[2], "Mi") {
		t.Fatalf("cubelet top:\n%s", out)
	}
	if pct, err := strconv.Atoi(strings.TrimSuffix(fields[3], "%")); err != nil || pct < 46 || pct > 75 { // 60..96 MiB of 128 MiB
		t.Errorf("%%LIMIT %s; want about 50%%:\n%s", fields[3], out)
	}
	t.Logf("cubelet top:\n%s", out)

	// A busy workload: one core spinning reads as more than half a core.
	c.put(e.task("usage-busy", func(t *v1.Task) { t.Spec.Args = []string{"--busy-cores", "1"} }))
	c.waitRunning("usage-busy")
	eventually(t, 30*time.Second, "usage-busy above 0.5 core", func() (bool, string) {
		var busy usage.TaskUsage
		if code := c.do(http.MethodGet, "/v1/tasks/usage-busy/usage", nil, &busy); code != http.StatusOK {
			return false, fmt.Sprintf("GET usage: %d", code)
		}
		if busy.Current == nil || busy.Current.CPUCores == nil {
			return false, "no CPU reading yet"
		}
		return *busy.Current.CPUCores > 0.5, fmt.Sprintf("%.3f cores", *busy.Current.CPUCores)
	})
	c.cli("", "stop", "usage-busy")

	stop := c.cli("", "stop", "usage-alloc")
	c.waitFor("usage-alloc", "Completed", time.Minute, func(t *v1.Task) bool { return t.Status.State == v1.Completed })
	eventually(t, 10*time.Second, "usage-alloc's readings to go", func() (bool, string) {
		u = usage.TaskUsage{}
		c.do(http.MethodGet, "/v1/tasks/usage-alloc/usage", nil, &u)
		m, err := c.scrapeMetrics()
		if err != nil {
			return false, err.Error()
		}
		_, has := m["cubelet_task_memory_bytes"]
		return u.Current == nil && !has, fmt.Sprintf("%s; current %+v, gauge present %v", stop, u.Current, has)
	})
}

// lineOf returns the line of out that starts with name.
func lineOf(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	return ""
}
