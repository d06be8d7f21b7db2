package e2e

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store/etcdtest"
)

// TestE2E_Cluster_Drain runs one etcd and three cubelets with 18 tasks
// spread, 15 Always servers and 3 Never jobs. `cubelet drain` of one
// node cordons it and moves each of its Always tasks: the command prints
// one "moved to" line per task and, since the node runs a Never job,
// names the job on stderr and exits 1. Afterwards the moved tasks run on
// the other nodes, each in one container of its new node, and the
// drained node has removed its copies; its Never jobs still run there in
// the same container (a job is never moved: it could run twice); the
// other nodes' tasks are not touched. `cubelet get nodes` shows the node
// Ready,SchedulingDisabled and new tasks go elsewhere; once uncordoned
// it is Ready again and the next task lands there (it is the least
// loaded).
//
// Measured (2 CPUs, race detector): the drain command, which waits for
// the moved tasks to run, returns in 1.2 s for 5 tasks; 17 s in all.
func TestE2E_Cluster_Drain(t *testing.T) {
	e := newEnv(t)
	srv, err := etcdtest.Start(t.Context(), etcdtest.Binary(t))
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(srv.Stop)
	nodes := e.startNodes("/e2e-drain/", func(string) string { return srv.Endpoint() }, "e2e-dr-1", "e2e-dr-2", "e2e-dr-3")
	front := nodes[0].c

	for i := range 18 {
		if k := i / 6; i == 6*k+1+k%3 {
			front.put(e.task(fmt.Sprintf("dr-job-%02d", i), restartPolicy(v1.RestartNever)))
		} else {
			front.put(e.task(fmt.Sprintf("dr-web-%02d", i), restartPolicy(v1.RestartAlways)))
		}
	}
	before := e.waitPlaced(front, 90*time.Second)
	dn, movable, jobs := pickNode(t, before, nodes[1], nodes[2], nodes[0])
	drained := dn.name
	t.Logf("tasks per node: %v; %s runs %d Always tasks and %d Never job(s)", perNode(before), drained, len(movable), len(jobs))

	start := time.Now()
	stdout, stderr, err := front.runCLI("", "drain", drained, "--timeout", "60s")
	took := time.Since(start)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("drain with a running Never job: %v, want exit 1\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	t.Logf("cubelet drain %s returned in %v:\n%s%s", drained, took.Round(100*time.Millisecond), stdout, stderr)
	if !strings.Contains(stdout, "node/"+drained+" cordoned") {
		t.Errorf("drain stdout lacks the cordon:\n%s", stdout)
	}
	for _, name := range movable {
		if !strings.Contains(stdout, "task/"+name+" moved to ") {
			t.Errorf("drain stdout lacks the move of %s:\n%s", name, stdout)
		}
	}
	for _, name := range jobs {
		if !strings.Contains(stderr, "task/"+name+" stays on node/"+drained) {
			t.Errorf("drain stderr does not name the job %s left on the node:\n%s", name, stderr)
		}
	}

	// The moved tasks run elsewhere, one copy each; the jobs are where
	// they were, in the same container; nothing else was touched.
	eventually(t, 30*time.Second, "the drained tasks Running on other nodes, their old copies removed", func() (bool, string) {
		tasks := tasksByName(front)
		if ok, why := movedOff(tasks, e.runningByTask(), drained, movable); !ok {
			return false, why
		}
		for _, c := range byInstance(e.managed())[drained] {
			if task := c.Labels["io.cubelet.task"]; tasks[task].Spec.NodeName != drained {
				return false, fmt.Sprintf("%s still has %s of %s", drained, c.Name, task)
			}
		}
		return true, ""
	})
	moved := map[string]placed{}
	for name, p := range before {
		if p.node != drained || p.policy == v1.RestartNever {
			moved[name] = p // the untouched ones: other nodes' tasks and the jobs
		}
	}
	e.checkUntouched(front, moved, "")
	e.checkInstancesOwnTheirs(front, nodes)

	table := front.cli("", "get", "nodes")
	if !rowHas(table, drained, "Ready,SchedulingDisabled") {
		t.Errorf("cubelet get nodes after the drain:\n%s\nwant %s Ready,SchedulingDisabled", table, drained)
	}
	for i := range 3 {
		name := fmt.Sprintf("dr-new-%d", i)
		front.put(e.task(name))
		tk := front.waitRunning(name)
		if tk.Spec.NodeName == drained {
			t.Errorf("%s bound to the cordoned %s", name, drained)
		}
	}

	if out := front.cli("", "uncordon", drained); !strings.Contains(out, "node/"+drained+" uncordoned") {
		t.Errorf("uncordon: %s", out)
	}
	table = front.cli("", "get", "nodes")
	if !rowHas(table, drained, "Ready") || strings.Contains(table, "SchedulingDisabled") {
		t.Errorf("cubelet get nodes after uncordon:\n%s\nwant %s Ready, schedulable", table, drained)
	}
	front.put(e.task("dr-after"))
	if tk := front.waitRunning("dr-after"); tk.Spec.NodeName != drained {
		t.Errorf("dr-after bound to %s, want the uncordoned, least loaded %s", tk.Spec.NodeName, drained)
	}
}

// rowHas reports whether the table's row of name has the column value.
func rowHas(table, name, value string) bool {
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == name && f[1] == value {
			return true
		}
	}
	return false
}
