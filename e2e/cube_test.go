package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cubelet/cubelet/apis/cube"
	v1 "github.com/cubelet/cubelet/apis/v1"
)

// cubeEvent is a TaskEvent exactly as Cube's manager marshals it: every
// field present, zero values included, no tags.
func cubeEvent(taskID, image string, state int, containerID string) string {
	return fmt.Sprintf(`{"ID":%q,"State":%d,"Timestamp":"0001-01-01T00:00:00Z","Task":{"ID":%q,"ContainerID":%q,
"Name":"test-chapter-5","State":%d,"Image":%q,"Cpu":0,"Memory":0,"Disk":0,"ExposedPorts":{"8080/tcp":{}},
"PortBindings":null,"RestartPolicy":"","StartTime":"0001-01-01T00:00:00Z","FinishTime":"0001-01-01T00:00:00Z",
"HostPorts":null,"HealthCheck":"","RestartCount":0}}`, uuid.NewString(), state, taskID, containerID, state, image)
}

func (c *cubelet) raw(method, path, body string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewBufferString(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json") // as Cube's manager sends it
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func (c *cubelet) cubeTasks() []cube.Task {
	c.t.Helper()
	code, data := c.raw(http.MethodGet, "/tasks", "")
	if code != http.StatusOK {
		c.t.Fatalf("GET /tasks = %d: %s", code, data)
	}
	var tasks []cube.Task
	if err := json.Unmarshal(data, &tasks); err != nil {
		c.t.Fatalf("decode GET /tasks: %v: %s", err, data)
	}
	return tasks
}

func (c *cubelet) cubeTask(id string) (cube.Task, bool) {
	for _, t := range c.cubeTasks() {
		if t.ID.String() == id {
			return t, true
		}
	}
	return cube.Task{}, false
}

func TestE2E_CubeManager_StartsAndStopsRealContainers(t *testing.T) {
	e := newEnv(t)
	c := e.start()
	if code, data := c.raw(http.MethodGet, "/tasks", ""); code != http.StatusOK || string(bytes.TrimSpace(data)) != "[]" {
		t.Fatalf("empty GET /tasks = %d %s, want 200 []", code, data)
	}

	id := uuid.NewString()
	code, data := c.raw(http.MethodPost, "/tasks", cubeEvent(id, e.image, int(cube.Scheduled), ""))
	if code != http.StatusCreated {
		t.Fatalf("POST /tasks = %d: %s", code, data)
	}
	var created cube.Task
	if err := json.Unmarshal(data, &created); err != nil || created.ID.String() != id {
		t.Fatalf("POST body %s (%v), want the task", data, err)
	}

	var running cube.Task
	eventually(t, 60*time.Second, "Cube task Running", func() (bool, string) {
		task, ok := c.cubeTask(id)
		running = task
		return ok && task.State == cube.Running && task.ContainerID != "" && !task.StartTime.IsZero(),
			fmt.Sprintf("%+v", task)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ct, err := e.docker.InspectContainer(ctx, running.ContainerID)
	if err != nil || !ct.Running() {
		t.Fatalf("container %s: %v %v", running.ContainerID, ct.State, err)
	}
	if len(running.HostPorts) == 0 {
		t.Errorf("HostPorts empty for an exposed port: %+v", running)
	}
	// Both APIs see the same object.
	v1task, code := c.get(id)
	if code != http.StatusOK || v1task.Status.ContainerID != running.ContainerID {
		t.Fatalf("GET /v1/tasks/%s = %d %+v", id, code, v1task.Status)
	}

	// The manager stops a task by posting it back as Completed.
	code, data = c.raw(http.MethodPost, "/tasks/", cubeEvent(id, e.image, int(cube.Completed), running.ContainerID))
	if code != http.StatusCreated {
		t.Fatalf("POST stop = %d: %s", code, data)
	}
	eventually(t, 60*time.Second, "Cube task Completed", func() (bool, string) {
		task, _ := c.cubeTask(id)
		return task.State == cube.Completed && !task.FinishTime.IsZero(), fmt.Sprintf("%+v", task)
	})
	if ct, err := e.docker.InspectContainer(ctx, running.ContainerID); err != nil || ct.Running() {
		t.Fatalf("container after stop: %v %v", ct.State, err)
	}

	// The worker's own DELETE stops too, and answers 204 with no body.
	other := uuid.NewString()
	if code, data := c.raw(http.MethodPost, "/tasks", cubeEvent(other, e.image, int(cube.Scheduled), "")); code != http.StatusCreated {
		t.Fatalf("POST = %d: %s", code, data)
	}
	v1other := c.waitRunning(other)
	code, data = c.raw(http.MethodDelete, "/tasks/"+other, "")
	if code != http.StatusNoContent || len(data) != 0 {
		t.Fatalf("DELETE = %d %q, want 204 and no body", code, data)
	}
	c.waitFor(other, "Completed", 60*time.Second, func(t *v1.Task) bool { return t.Status.State == v1.Completed })
	if ct, err := e.docker.InspectContainer(ctx, v1other.Status.ContainerID); err != nil || ct.Running() {
		t.Fatalf("container after DELETE: %v %v", ct.State, err)
	}
	if code, _ := c.raw(http.MethodDelete, "/tasks/not-a-uuid", ""); code != http.StatusBadRequest {
		t.Errorf("DELETE malformed = %d, want 400", code)
	}
	if code, _ := c.raw(http.MethodDelete, "/tasks/"+uuid.NewString(), ""); code != http.StatusNotFound {
		t.Errorf("DELETE unknown = %d, want 404", code)
	}
}
