package runtime_test

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestDocker_Exec_ExitCodeAndOutput(t *testing.T) {
	e := newE2E(t)
	id := e.createAndStart(e.spec("exec", "--listen", ":8080"))
	e.waitStarted(id)
	ctx := e.ctx(30 * time.Second)

	for _, tc := range []struct {
		cmd  []string
		code int
		out  string
	}{
		{[]string{"/workload", "--probe-exit", "0"}, 0, "probe: exit 0"},
		{[]string{"/workload", "--probe-exit", "3"}, 3, "probe: exit 3"},
		{[]string{"/workload", "--probe-absent", "/workload"}, 1, "probe: /workload exists"},
	} {
		res, err := e.d.Exec(ctx, id, tc.cmd)
		if err != nil {
			t.Fatalf("exec %v: %v", tc.cmd, err)
		}
		if res.ExitCode != tc.code || !strings.Contains(string(res.Output), tc.out) {
			t.Errorf("exec %v = %d %q; want %d and %q", tc.cmd, res.ExitCode, res.Output, tc.code, tc.out)
		}
	}
	// Docker reports a missing binary as an error or as exit 126/127:
	// either fails a probe, but never exit 0.
	if res, err := e.d.Exec(ctx, id, []string{"/no/such/binary"}); err == nil && res.ExitCode == 0 {
		t.Errorf("exec of a missing binary exited 0")
	}
}

func TestDocker_Inspect_ContainerIP_ReachesTheContainerPort(t *testing.T) {
	e := newE2E(t)
	id := e.createAndStart(e.spec("ip", "--listen", ":8080"))
	e.waitStarted(id)
	ctx := e.ctx(30 * time.Second)
	c, err := e.d.InspectContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if net.ParseIP(c.IP) == nil {
		t.Fatalf("IP = %q, want the container's address on the bridge", c.IP)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get("http://" + net.JoinHostPort(c.IP, "8080") + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = nil
		} else {
			last = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("GET http://%s:8080/healthz never answered 200: %v", c.IP, last)
}
