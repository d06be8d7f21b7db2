package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/runtime"
)

func probeOf(h v1.ProbeHandler, periodSeconds, failureThreshold int32) *v1.Probe {
	return &v1.Probe{ProbeHandler: h, PeriodSeconds: periodSeconds, FailureThreshold: failureThreshold}
}

func httpHealthz() v1.ProbeHandler {
	return v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}
}

func readyOf(t *v1.Task) *metav1.Condition {
	return meta.FindStatusCondition(t.Status.Conditions, controller.ConditionReady)
}

// attempt0 is the task's first container, as Docker reports it now.
func (e *env) attempt0(ctx context.Context, task string) runtime.Container {
	e.t.Helper()
	for _, c := range e.containers(task) {
		if c.Labels[controller.LabelAttempt] == "0" {
			full, err := e.docker.InspectContainer(ctx, c.ID)
			if err != nil {
				e.t.Fatalf("inspect %s: %v", c.Name, err)
			}
			return full
		}
	}
	e.t.Fatalf("task %s has no attempt 0", task)
	return runtime.Container{}
}

// TestE2E_Probes runs the test workload under each kind of probe, all at
// once on one cubelet, against real Docker: a liveness probe (httpGet,
// tcpSocket, exec) that turns failing restarts the container within
// periodSeconds × failureThreshold + 1 s of the workload turning
// unhealthy, counted, with an Unhealthy transition; a failing readiness
// probe leaves the container running with Ready=False; a startup probe
// holds back both liveness (which would otherwise kill the slow starter)
// and readiness.
func TestE2E_Probes(t *testing.T) {
	e := newEnv(t)
	c := e.start()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const (
		period    = 1
		threshold = 2
		healthy   = 2 * time.Second // the workloads' --healthy-for and --tcp-close-after
		slowStart = 3 * time.Second // --healthy-after of the startup case
	)
	withPorts := func(t *v1.Task) {
		t.Spec.Ports = []v1.PortMapping{{Name: "http", ContainerPort: 8080}, {Name: "raw", ContainerPort: 9000}}
	}
	liveness := map[string]*v1.Task{
		"live-http": e.task("live-http", withPorts, func(t *v1.Task) {
			t.Spec.Args = []string{"--listen", ":8080", "--healthy-for", healthy.String()}
			t.Spec.LivenessProbe = probeOf(httpHealthz(), period, threshold)
		}),
		"live-tcp": e.task("live-tcp", withPorts, func(t *v1.Task) {
			t.Spec.Args = []string{"--listen", ":8080", "--tcp-listen", ":9000", "--tcp-close-after", healthy.String()}
			t.Spec.LivenessProbe = probeOf(v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(9000)}}, period, threshold)
		}),
		"live-exec": e.task("live-exec", withPorts, func(t *v1.Task) {
			t.Spec.Args = []string{"--listen", ":8080", "--healthy-for", healthy.String()}
			t.Spec.LivenessProbe = probeOf(v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"/workload", "--probe-absent", "/unhealthy"}}}, period, threshold)
		}),
	}
	unready := e.task("unready", withPorts, func(t *v1.Task) {
		t.Spec.Args = []string{"--listen", ":8080", "--healthy-after", "1h"}
		t.Spec.ReadinessProbe = probeOf(httpHealthz(), period, 1)
	})
	slow := e.task("slow-start", withPorts, func(t *v1.Task) {
		t.Spec.Args = []string{"--listen", ":8080", "--healthy-after", slowStart.String()}
		t.Spec.StartupProbe = probeOf(httpHealthz(), period, 30)
		t.Spec.LivenessProbe = probeOf(httpHealthz(), period, 1) // would kill it at once without the startup probe
		t.Spec.ReadinessProbe = probeOf(httpHealthz(), period, 1)
	})
	for _, task := range liveness {
		c.put(task)
	}
	c.put(unready)
	c.put(slow)

	for name := range liveness {
		t.Run("liveness "+strings.TrimPrefix(name, "live-"), func(t *testing.T) {
			var task *v1.Task
			eventually(t, 30*time.Second, name+" restarted for its liveness probe", func() (bool, string) {
				task, _ = c.get(name)
				return task.Status.RestartCount >= 1, fmt.Sprintf("%s/%s %q", task.Status.State, task.Status.Reason, task.Status.Message)
			})
			if !slices.ContainsFunc(task.Status.Transitions, func(tr v1.Transition) bool {
				return tr.Reason == controller.ReasonUnhealthy && tr.From == v1.Running && tr.To == v1.Running
			}) {
				t.Errorf("transitions %+v: no Running>Running Unhealthy", task.Status.Transitions)
			}
			first := e.attempt0(ctx, name)
			if first.Running() || first.FinishedAt.IsZero() {
				t.Fatalf("attempt 0 is %s: want it stopped by cubelet", first.State)
			}
			turnedUnhealthy := first.StartedAt.Add(healthy)
			budget := time.Duration(period*threshold)*time.Second + time.Second
			took := first.FinishedAt.Sub(turnedUnhealthy)
			t.Logf("%s: stopped %s after turning unhealthy (budget %s)", name, took.Round(time.Millisecond), budget)
			if took > budget {
				t.Errorf("%s stopped %s after turning unhealthy, budget periodSeconds × failureThreshold + 1 s = %s", name, took, budget)
			}
			if took < time.Duration(period*(threshold-1))*time.Second {
				t.Errorf("%s stopped %s after turning unhealthy: before failureThreshold probes could fail", name, took)
			}
		})
	}
	t.Run("readiness failing: running, Ready=False", func(t *testing.T) {
		var task *v1.Task
		eventually(t, 30*time.Second, "Ready=False with the probe's message", func() (bool, string) {
			task, _ = c.get("unready")
			r := readyOf(task)
			return task.Status.State == v1.Running && r != nil && r.Status == metav1.ConditionFalse && strings.Contains(r.Message, "status 500"),
				fmt.Sprintf("%s %+v", task.Status.State, r)
		})
		if task.Status.RestartCount != 0 {
			t.Errorf("readiness restarted it %d times", task.Status.RestartCount)
		}
		ct, err := e.docker.InspectContainer(ctx, task.Status.ContainerID)
		if err != nil || !ct.Running() {
			t.Errorf("container %s: %v %v, want running", task.Status.ContainerID, ct.State, err)
		}
	})
	t.Run("startup holds liveness and readiness back", func(t *testing.T) {
		var task *v1.Task
		eventually(t, 30*time.Second, "Ready=True after the slow start", func() (bool, string) {
			task, _ = c.get("slow-start")
			r := readyOf(task)
			return r != nil && r.Status == metav1.ConditionTrue, fmt.Sprintf("%s %+v", task.Status.State, r)
		})
		if task.Status.RestartCount != 0 {
			t.Errorf("restarts = %d: liveness ran before the startup probe succeeded", task.Status.RestartCount)
		}
		ct, err := e.docker.InspectContainer(ctx, task.Status.ContainerID)
		if err != nil {
			t.Fatal(err)
		}
		if ready := readyOf(task).LastTransitionTime.Time; ready.Before(ct.StartedAt.Add(slowStart).Truncate(time.Second)) {
			t.Errorf("Ready at %s, before the workload was healthy (%s)", ready, ct.StartedAt.Add(slowStart))
		}
	})

	code, body := c.rawGet("/metrics")
	if code != 200 || !strings.Contains(body, `cubelet_probe_total{probe="liveness",result="failure"}`) ||
		!strings.Contains(body, "cubelet_probe_duration_seconds_bucket") {
		t.Errorf("metrics lack probe counts or durations (%d)", code)
	}
}
