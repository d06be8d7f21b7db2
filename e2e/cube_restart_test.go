package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/cubelet/cubelet/apis/cube"
	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
)

// cubeManager replays what the book's manager (chapter 12) does with one
// task on one worker, request for request: it posts TaskEvents marshalled
// from Cube's types (every field, zero values included, Content-Type
// application/json), stores the 201's body over its own copy, copies
// State, StartTime, FinishTime, ContainerID and HostPorts from the
// worker's GET /tasks (updateTasks), health-checks the first host port of
// its copy, and restarts by posting the task as Scheduled with its own
// RestartCount + 1 (restartTask). Stops are DELETE /tasks/{id} (stopTask).
type cubeManager struct {
	t    *testing.T
	c    *cubelet
	task cube.Task
}

func newCubeManager(t *testing.T, c *cubelet, task cube.Task) *cubeManager {
	task.ID = uuid.New()
	task.State = cube.Scheduled
	return &cubeManager{t: t, c: c, task: task}
}

// send posts the manager's copy in a TaskEvent and stores the answer over
// the copy, as SendWork and restartTask do. The answer must be the task
// the manager sent: anything else moves its copy.
func (m *cubeManager) send(eventState cube.State) {
	m.t.Helper()
	te := cube.TaskEvent{ID: uuid.New(), State: eventState, Timestamp: time.Now().UTC(), Task: m.task}
	body, err := json.Marshal(te)
	if err != nil {
		m.t.Fatal(err)
	}
	code, data := m.c.raw(http.MethodPost, "/tasks", string(body))
	if code != http.StatusCreated {
		m.t.Fatalf("POST /tasks (task State %s, RestartCount %d) = %d: %s", m.task.State, m.task.RestartCount, code, data)
	}
	var answer cube.Task
	if err := json.Unmarshal(data, &answer); err != nil {
		m.t.Fatalf("decode the 201's body: %v: %s", err, data)
	}
	var sent cube.Task
	_ = json.Unmarshal(mustJSON(m.t, m.task), &sent) // the copy as it crossed the wire
	if !reflect.DeepEqual(answer, sent) {
		m.t.Fatalf("201 body is not the task the manager sent:\n got %+v\nsent %+v", answer, sent)
	}
	m.task = answer
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// poll is updateTasks: the worker's view of the task, copied field by
// field into the manager's copy. It returns the worker's task.
func (m *cubeManager) poll() cube.Task {
	m.t.Helper()
	w, ok := m.c.cubeTask(m.task.ID.String())
	if !ok {
		m.t.Fatalf("GET /tasks does not list %s", m.task.ID)
	}
	m.task.State, m.task.StartTime, m.task.FinishTime = w.State, w.StartTime, w.FinishTime
	m.task.ContainerID, m.task.HostPorts = w.ContainerID, w.HostPorts
	return w
}

// pollUntil polls until the worker reports state; it returns the worker's
// task.
func (m *cubeManager) pollUntil(state cube.State, timeout time.Duration) cube.Task {
	m.t.Helper()
	var w cube.Task
	eventually(m.t, timeout, "worker reports "+state.String(), func() (bool, string) {
		w = m.poll()
		return w.State == state, fmt.Sprintf("%+v", w)
	})
	return w
}

// healthy is checkTaskHealth: GET http://worker:<first host port><HealthCheck>,
// 200 is healthy.
func (m *cubeManager) healthy() error {
	var port string
	for _, bindings := range m.task.HostPorts {
		if len(bindings) > 0 {
			port = bindings[0].HostPort
			break
		}
	}
	if port == "" {
		return fmt.Errorf("no host port in %+v", m.task.HostPorts)
	}
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://127.0.0.1:" + port + m.task.HealthCheck)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check: %d", resp.StatusCode)
	}
	return nil
}

// restart is restartTask.
func (m *cubeManager) restart() {
	m.t.Helper()
	m.task.State = cube.Scheduled
	m.task.RestartCount++
	m.send(cube.Running)
}

// runningAgain restarts, waits for the worker to report Running, and checks
// what the manager sees next: a passing health check on the host port its
// copy now holds, the same restart count on both sides, no FinishTime of
// the dead attempt on a Running task, and one running container.
func (m *cubeManager) runningAgain(e *env) {
	m.t.Helper()
	m.restart()
	w := m.pollUntil(cube.Running, 30*time.Second)
	eventually(m.t, 10*time.Second, "the manager's health check passes", func() (bool, string) {
		err := m.healthy()
		return err == nil, fmt.Sprint(err)
	})
	if w.RestartCount != m.task.RestartCount {
		m.t.Errorf("RestartCount: worker %d, manager %d", w.RestartCount, m.task.RestartCount)
	}
	if !w.FinishTime.IsZero() {
		m.t.Errorf("Running task reports FinishTime %s of an earlier attempt", w.FinishTime)
	}
	e.wantOneRunning(m.task.ID.String())
}

// wantOneRunning checks a Cube task's containers: exactly one running, and
// at most two in all (the current one and the previous one, kept stopped
// for logs --previous).
func (e *env) wantOneRunning(task string) {
	e.t.Helper()
	cs := e.containers(task)
	running := 0
	for _, c := range cs {
		if c.Running() {
			running++
		}
	}
	if running != 1 || len(cs) > 2 {
		e.t.Errorf("task %s has %d containers, %d running; want 1 running and at most 2 in all", task, len(cs), running)
	}
}

// wantNoneRunning checks that no container of the task runs.
func (e *env) wantNoneRunning(task string) {
	e.t.Helper()
	for _, c := range e.containers(task) {
		if c.Running() {
			e.t.Errorf("container %s of task %s runs: cubelet restarted a task whose manager restarts it", c.Name, task)
		}
	}
}

// staysFailed polls the worker for d and fails if it reports anything but
// Failed or starts a container: cubelet must not restart a Cube task by
// itself. An absence can only be watched for a while; d covers several of
// cubelet's retry and back-off periods (200 ms base in these tests).
func (m *cubeManager) staysFailed(e *env, d time.Duration) {
	m.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if w := m.poll(); w.State != cube.Failed {
			m.t.Fatalf("worker moved a Failed task to %s by itself: %+v", w.State, w)
		}
		e.wantNoneRunning(m.task.ID.String())
		time.Sleep(100 * time.Millisecond)
	}
}

// TestE2E_CubeManager_OneRestartAuthority replays the book's manager in
// the five cases of issue 12 against a real Docker: the manager is the one
// restart authority of the tasks it posts, so each ends with one
// container, the same restart count on both sides, no 409 for a restart
// the manager may send, stops that win, and 201 bodies that are the task
// sent.
func TestE2E_CubeManager_OneRestartAuthority(t *testing.T) {
	e := newEnv(t)
	c := e.start()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	docker := func(args ...string) {
		t.Helper()
		if out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput(); err != nil {
			t.Fatalf("docker %v: %v: %s", args, err, out)
		}
	}
	web := cube.Task{
		Name: "web", Image: e.image, ExposedPorts: cube.PortSet{"8080/tcp": {}},
		RestartPolicy: "always", HealthCheck: "/healthz",
	}

	t.Run("crash under always: the manager restarts it, once, on the port it then polls", func(t *testing.T) {
		m := newCubeManager(t, c, web)
		m.send(cube.Scheduled)
		if m.task.State != cube.Scheduled {
			t.Fatalf("manager's copy after the 201: %s, want Scheduled", m.task.State)
		}
		m.pollUntil(cube.Running, 30*time.Second)
		if err := m.healthy(); err != nil {
			t.Fatalf("first health check: %v", err)
		}
		docker("kill", m.task.ContainerID) // a crash: exit 137
		w := m.pollUntil(cube.Failed, 30*time.Second)
		if w.RestartCount != 0 {
			t.Fatalf("worker counted %d restarts of its own", w.RestartCount)
		}
		m.staysFailed(e, time.Second)
		m.runningAgain(e)
		docker("kill", m.task.ContainerID)
		m.pollUntil(cube.Failed, 30*time.Second)
		m.runningAgain(e)
		if m.task.RestartCount != 2 {
			t.Fatalf("manager's RestartCount %d, want 2", m.task.RestartCount)
		}
	})

	t.Run("docker stop from outside: Failed, and the manager's restart is accepted", func(t *testing.T) {
		m := newCubeManager(t, c, web)
		m.task.RestartPolicy = ""
		m.send(cube.Scheduled)
		m.pollUntil(cube.Running, 30*time.Second)
		docker("stop", m.task.ContainerID) // exit 0
		m.pollUntil(cube.Failed, 30*time.Second)
		v1task, _ := c.get(m.task.ID.String())
		if v1task.Status.Reason != "Exited" {
			t.Errorf("v1 reason %q, want Exited", v1task.Status.Reason)
		}
		m.runningAgain(e) // a 409 would fail send
	})

	t.Run("host port taken: Failed at once, nothing starts by itself, the stop holds, the restart runs", func(t *testing.T) {
		hostPort := freeAddr(t)
		_, portText, _ := net.SplitHostPort(hostPort)
		port, _ := strconv.Atoi(portText)
		holder := e.runContainer(ctx, runtime.ContainerSpec{
			Name: fmt.Sprintf("port-holder-%d", time.Now().UnixNano()), Image: e.image,
			Cmd: []string{"--listen", ":8080"}, Ports: []runtime.PortBinding{{ContainerPort: 8080, Protocol: "tcp", HostPort: port}},
		})
		m := newCubeManager(t, c, web)
		m.task.PortBindings = map[string]string{"8080/tcp": portText}
		m.send(cube.Scheduled)
		m.pollUntil(cube.Failed, 30*time.Second)
		if v1task, _ := c.get(m.task.ID.String()); !strings.Contains(v1task.Status.Message, "port is already allocated") {
			t.Errorf("v1 reason %q message %q, want the engine's refusal of the port", v1task.Status.Reason, v1task.Status.Message)
		}
		if err := e.docker.RemoveContainer(ctx, holder); err != nil {
			t.Fatal(err)
		}
		m.staysFailed(e, 2*time.Second) // the port is free: still nothing starts
		// A stop is accepted and holds.
		if code, data := c.raw(http.MethodDelete, "/tasks/"+m.task.ID.String(), ""); code != http.StatusNoContent {
			t.Fatalf("DELETE of the Failed task = %d %s, want 204", code, data)
		}
		m.staysFailed(e, 500*time.Millisecond)
		// The manager may still restart it: it runs on the freed port.
		m.runningAgain(e)
		if got := m.task.HostPorts["8080/tcp"]; len(got) == 0 || got[0].HostPort != portText {
			t.Errorf("HostPorts %+v, want %s", m.task.HostPorts, portText)
		}
	})

	t.Run("a stop wins: a running task stopped by the manager stays Completed", func(t *testing.T) {
		m := newCubeManager(t, c, web)
		m.send(cube.Scheduled)
		m.pollUntil(cube.Running, 30*time.Second)
		// HealthCheck is a readiness probe on the same path: cubelet
		// reports what the manager's check sees, and acts on nothing.
		c.waitFor(m.task.ID.String(), "Ready from HealthCheck", 15*time.Second, func(t *v1.Task) bool {
			return meta.IsStatusConditionTrue(t.Status.Conditions, "Ready") && t.Spec.ReadinessProbe != nil && t.Spec.LivenessProbe == nil
		})
		if code, data := c.raw(http.MethodDelete, "/tasks/"+m.task.ID.String(), ""); code != http.StatusNoContent {
			t.Fatalf("DELETE = %d %s", code, data)
		}
		w := m.pollUntil(cube.Completed, 30*time.Second)
		if w.FinishTime.IsZero() {
			t.Errorf("Completed task without FinishTime: %+v", w)
		}
		e.wantNoneRunning(m.task.ID.String())
		v1task, _ := c.get(m.task.ID.String())
		if v1task.Status.State != v1.Completed {
			t.Errorf("v1 state %s", v1task.Status.State)
		}
	})
}
