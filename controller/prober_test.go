package controller

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
	"github.com/cubelet/cubelet/runtime/fake"
)

// The fake engine gives every running container the address 127.0.0.1, so
// these tests serve probes from the test process itself, on the port the
// task names as its container port: the prober's HTTP and TCP code runs
// for real.

// healthServer answers /healthz with 500 for the first failures requests,
// then 200.
func healthServer(t *testing.T, failures int32) int32 {
	t.Helper()
	var left atomic.Int32
	left.Store(failures)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || left.Add(-1) >= 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	n, _ := strconv.Atoi(port)
	return int32(n)
}

func fastProbe(h v1.ProbeHandler) *v1.Probe {
	return &v1.Probe{ProbeHandler: h, PeriodSeconds: 1, FailureThreshold: 1, TimeoutSeconds: 1}
}

func readyCondition(task *v1.Task) metav1.ConditionStatus {
	if c := meta.FindStatusCondition(task.Status.Conditions, ConditionReady); c != nil {
		return c.Status
	}
	return ""
}

func TestProber_LivenessFailure_RestartsCountedAsUnhealthy(t *testing.T) {
	port := healthServer(t, 1) // the first attempt fails its first probe

	var logs syncBuf
	h := startHarness(t, fake.New(fake.WithImages(testImage)), 2, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	h.put("web", func(task *v1.Task) {
		task.Spec.LivenessProbe = fastProbe(v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(port)}})
	})
	var task *v1.Task
	eventually(t, 10*time.Second, "a restart for the failed liveness probe", func() (bool, string) {
		task = h.get("web")
		return task.Status.RestartCount >= 1, string(task.Status.State) + "/" + task.Status.Reason
	})
	if !slices.ContainsFunc(task.Status.Transitions, func(tr v1.Transition) bool { return tr.Reason == ReasonUnhealthy }) {
		t.Errorf("transitions %+v: none for Unhealthy", task.Status.Transitions)
	}
	eventually(t, 10*time.Second, "attempt 1 running, attempt 0 stopped and kept", func() (bool, string) {
		task = h.get("web")
		byAttempt := map[string]runtime.Container{}
		for _, c := range h.containersOf("web") {
			byAttempt[c.Labels[LabelAttempt]] = c
		}
		first, second := byAttempt["0"], byAttempt["1"]
		return task.Status.State == v1.Running && task.Status.Reason == "" && task.Status.RestartCount == 1 &&
				len(byAttempt) == 2 && !first.Running() && second.Running() && task.Status.ContainerID == second.ID,
			fmt.Sprintf("%s/%s restarts %d, %d containers", task.Status.State, task.Status.Reason, task.Status.RestartCount, len(byAttempt))
	})
}

func TestProber_ReadinessFailure_ReadyFalseAndStillRunning(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens: the TCP probe fails

	h := startHarness(t, fake.New(fake.WithImages(testImage)), 2, nil)
	h.put("web", func(task *v1.Task) {
		task.Spec.ReadinessProbe = fastProbe(v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt(port)}})
	})
	var task *v1.Task
	eventually(t, 10*time.Second, "Ready=False with the probe's message", func() (bool, string) {
		task = h.get("web")
		c := meta.FindStatusCondition(task.Status.Conditions, ConditionReady)
		return task.Status.State == v1.Running && c != nil && c.Status == metav1.ConditionFalse && c.Reason == ReasonNotReady &&
			c.Message != "readiness probe has not succeeded yet", string(task.Status.State) + " " + string(readyCondition(task))
	})
	if task.Status.RestartCount != 0 {
		t.Fatalf("readiness restarted the container %d times", task.Status.RestartCount)
	}

	l, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Skipf("port %d was taken meanwhile: %v", port, err)
	}
	defer l.Close()
	eventually(t, 10*time.Second, "Ready=True once the port accepts", func() (bool, string) {
		task = h.get("web")
		return readyCondition(task) == metav1.ConditionTrue, string(readyCondition(task))
	})
}

func TestProber_StartupGatesReadiness_ExecProbes(t *testing.T) {
	rt := fake.New(fake.WithImages(testImage))
	var started atomic.Bool
	var readinessBeforeStartup atomic.Int32
	rt.SetExec(func(_ runtime.Container, cmd []string) (int, string) {
		switch cmd[0] {
		case "started":
			if started.Load() {
				return 0, ""
			}
			return 1, "not yet"
		default: // "ready"
			if !started.Load() {
				readinessBeforeStartup.Add(1)
			}
			return 0, ""
		}
	})
	h := startHarness(t, rt, 2, nil)
	h.put("web", func(task *v1.Task) {
		startup := fastProbe(v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"started"}}})
		startup.FailureThreshold = 30
		task.Spec.StartupProbe = startup
		task.Spec.ReadinessProbe = fastProbe(v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"ready"}}})
	})
	task := h.waitState("web", v1.Running)
	eventually(t, 5*time.Second, "a startup probe that failed once", func() (bool, string) {
		return rt.CallCount(fake.MethodExec) >= 1, ""
	})
	if got := readyCondition(h.get("web")); got != metav1.ConditionFalse {
		t.Fatalf("Ready = %s before the startup probe passed", got)
	}
	started.Store(true)
	eventually(t, 10*time.Second, "Ready=True after startup", func() (bool, string) {
		task = h.get("web")
		return readyCondition(task) == metav1.ConditionTrue, string(readyCondition(task))
	})
	if n := readinessBeforeStartup.Load(); n != 0 {
		t.Fatalf("readiness ran %d times before the startup probe succeeded", n)
	}
	if task.Status.RestartCount != 0 {
		t.Fatalf("restarts = %d", task.Status.RestartCount)
	}
}

// syncBuf is a bytes.Buffer safe for the controller's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestController_CubeManagersTask_CannotStart_FailedAndNotRetried: a task
// whose restarts belong to a Cube manager reports a container that cannot
// start as Failed at once, and cubelet does not try again by itself, even
// once the host port is free.
func TestController_CubeManagersTask_CannotStart_FailedAndNotRetried(t *testing.T) {
	rt := fake.New(fake.WithImages(testImage))
	h := startHarness(t, rt, 2, nil)
	hold := func(task *v1.Task) { task.Spec.Ports = []v1.PortMapping{{ContainerPort: 80, HostPort: 8080}} }
	h.put("holder", hold)
	h.waitState("holder", v1.Running)
	h.put("cube", func(task *v1.Task) {
		hold(task)
		task.Annotations = map[string]string{v1.AnnotationRestartAuthority: v1.RestartAuthorityCubeManager}
	})
	task := h.waitState("cube", v1.Failed)
	if task.Status.Reason != ReasonRunContainerError || !strings.Contains(task.Status.Message, "already allocated") {
		t.Fatalf("reason %s message %q, want RunContainerError with the engine's refusal", task.Status.Reason, task.Status.Message)
	}
	starts := rt.CallCount(fake.MethodStartContainer)
	if err := rt.StopContainer(t.Context(), h.get("holder").Status.ContainerID, 0); err != nil {
		t.Fatal(err)
	}
	h.update("holder", func(task *v1.Task) { task.Spec.DesiredState = v1.Completed })
	h.waitState("holder", v1.Completed)
	// An absence can only be watched for a while: several of the queue's
	// retry periods (RetryBase 500 ms) pass.
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if got := h.get("cube"); got.Status.State != v1.Failed {
			t.Fatalf("the Failed task moved to %s by itself", got.Status.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := rt.CallCount(fake.MethodStartContainer); got != starts {
		t.Fatalf("%d more starts after Failed", got-starts)
	}
}
