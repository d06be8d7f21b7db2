package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cubelet/cubelet/apis/cube"
	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/hoststats"
	"github.com/cubelet/cubelet/store"
)

// The contract tests send JSON written by hand exactly as Cube's manager
// marshals a TaskEvent: every field present, zero values included, keys
// the Go field names.

const cubeTaskID = "21b23589-5d2d-4731-b5c9-a97e9832d021"

// managerEventJSON is a TaskEvent as Cube's manager sends it: taskState 1
// (Scheduled) runs the task, 3 (Completed) stops it.
func managerEventJSON(eventID, taskID string, taskState int) string {
	return fmt.Sprintf(`{
  "ID": %q,
  "State": 2,
  "Timestamp": "0001-01-01T00:00:00Z",
  "Task": {
    "ID": %q,
    "ContainerID": "",
    "Name": "test-chapter-5",
    "State": %d,
    "Image": "strm/helloworld-http",
    "Cpu": 0,
    "Memory": 0,
    "Disk": 0,
    "ExposedPorts": null,
    "PortBindings": null,
    "RestartPolicy": "",
    "StartTime": "0001-01-01T00:00:00Z",
    "FinishTime": "0001-01-01T00:00:00Z",
    "HostPorts": null,
    "HealthCheck": "",
    "RestartCount": 0
  }
}`, eventID, taskID, taskState)
}

// postEvent posts a TaskEvent and checks the code.
func (e *testEnv) postEvent(t *testing.T, body string, want int) []byte {
	t.Helper()
	resp, data := e.request(t, http.MethodPost, "/tasks", body)
	if resp.StatusCode != want {
		t.Fatalf("POST /tasks: code %d, want %d: %s", resp.StatusCode, want, data)
	}
	return data
}

// stored reads a task straight from the store.
func (e *testEnv) stored(t *testing.T, name string) *v1.Task {
	t.Helper()
	task, err := e.store.Get(context.Background(), name)
	if err != nil {
		t.Fatalf("store.Get(%s): %v", name, err)
	}
	return task
}

// setState writes a status state, as the controller would.
func (e *testEnv) setState(t *testing.T, name string, state v1.State) {
	t.Helper()
	task := e.stored(t, name)
	task.Status.State = state
	if _, err := e.store.UpdateStatus(context.Background(), task); err != nil {
		t.Fatalf("UpdateStatus: %v", err)
	}
}

// wantCubeError checks Cube's error shape: code, JSON content type, and
// {"HTTPStatusCode":code,"Message":...} with no other keys.
func wantCubeError(t *testing.T, resp *http.Response, data []byte, code int, msgPart string) {
	t.Helper()
	if resp.StatusCode != code {
		t.Fatalf("code %d, want %d: %s", resp.StatusCode, code, data)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(data, &body); err != nil {
		t.Fatalf("error body %q: %v", data, err)
	}
	if len(body) != 2 || body["HTTPStatusCode"] != float64(code) {
		t.Errorf("error body %s: want exactly HTTPStatusCode %d and Message", data, code)
	}
	if msg, _ := body["Message"].(string); !strings.Contains(msg, msgPart) {
		t.Errorf("Message %q does not mention %q", msg, msgPart)
	}
}

func TestCubePost_ManagerEvent_Creates201WithTheTask(t *testing.T) {
	e := newTestEnv(t)
	data := e.postEvent(t, managerEventJSON(uuid.NewString(), cubeTaskID, 1), http.StatusCreated)

	got := decodeAs[cube.Task](t, data)
	if got.ID.String() != cubeTaskID || got.Name != "test-chapter-5" || got.Image != "strm/helloworld-http" || got.State != cube.Scheduled {
		t.Errorf("body = %+v; want the task as sent, Scheduled", got)
	}
	stored := e.stored(t, cubeTaskID)
	if string(stored.UID) != cubeTaskID || !slices.Contains(stored.Finalizers, v1.FinalizerContainers) {
		t.Errorf("stored metadata = %+v; want uid %s and the containers finalizer", stored.ObjectMeta, cubeTaskID)
	}
	if stored.Spec.DesiredState != v1.Running || stored.Status.State != v1.Pending || stored.Spec.RestartPolicy != v1.RestartNever {
		t.Errorf("stored desiredState, state, restartPolicy = %s, %s, %s; want Running, Pending, Never",
			stored.Spec.DesiredState, stored.Status.State, stored.Spec.RestartPolicy)
	}
	if got := stored.Annotations[v1.AnnotationRestartAuthority]; got != v1.RestartAuthorityCubeManager {
		t.Errorf("restart authority = %q; want %q: the manager restarts the tasks it posts", got, v1.RestartAuthorityCubeManager)
	}
}

func TestCubePost_SameIDCompleted_StopsWithoutChangingTheSpec(t *testing.T) {
	e := newTestEnv(t)
	e.postEvent(t, managerEventJSON(uuid.NewString(), cubeTaskID, 1), http.StatusCreated)
	e.setState(t, cubeTaskID, v1.Running)

	data := e.postEvent(t, managerEventJSON(uuid.NewString(), cubeTaskID, 3), http.StatusCreated)
	if got := decodeAs[cube.Task](t, data); got.ID.String() != cubeTaskID || got.State != cube.Completed {
		t.Errorf("body = %+v; want the task as sent, Completed", got)
	}
	stored := e.stored(t, cubeTaskID)
	if stored.Spec.DesiredState != v1.Completed || stored.Generation != 2 || stored.Spec.RestartGeneration != 0 {
		t.Errorf("desiredState %s, generation %d, restartGeneration %d; want Completed, 2, 0",
			stored.Spec.DesiredState, stored.Generation, stored.Spec.RestartGeneration)
	}
}

func TestCubePost_ScheduledAgain_RestartsOncePerEvent(t *testing.T) {
	for _, from := range []v1.State{v1.Running, v1.Failed} {
		t.Run(string(from), func(t *testing.T) {
			e := newTestEnv(t)
			e.postEvent(t, managerEventJSON(uuid.NewString(), cubeTaskID, 1), http.StatusCreated)
			e.setState(t, cubeTaskID, from)

			restart := managerEventJSON(uuid.NewString(), cubeTaskID, 1)
			e.postEvent(t, restart, http.StatusCreated)
			e.postEvent(t, restart, http.StatusCreated) // the manager retries
			if got := e.stored(t, cubeTaskID).Spec.RestartGeneration; got != 1 {
				t.Errorf("restartGeneration = %d; want 1 (one restart per event)", got)
			}
		})
	}
}

func TestCubePost_ScheduledWhilePendingOrScheduled_DoesNotRestart(t *testing.T) {
	e := newTestEnv(t)
	e.postEvent(t, managerEventJSON(uuid.NewString(), cubeTaskID, 1), http.StatusCreated)
	e.postEvent(t, managerEventJSON(uuid.NewString(), cubeTaskID, 1), http.StatusCreated)
	e.setState(t, cubeTaskID, v1.Scheduled)
	e.postEvent(t, managerEventJSON(uuid.NewString(), cubeTaskID, 0), http.StatusCreated)
	if got := e.stored(t, cubeTaskID); got.Spec.RestartGeneration != 0 || got.Generation != 1 {
		t.Errorf("restartGeneration %d, generation %d; want 0, 1", got.Spec.RestartGeneration, got.Generation)
	}
}

func TestCubePost_OutsideTheSeedsTable_409(t *testing.T) {
	for _, tc := range []struct {
		from      v1.State
		taskState int
	}{
		{v1.Completed, 1}, // Completed → Scheduled
	} {
		t.Run(fmt.Sprintf("%s+%d", tc.from, tc.taskState), func(t *testing.T) {
			e := newTestEnv(t)
			e.postEvent(t, managerEventJSON(uuid.NewString(), cubeTaskID, 1), http.StatusCreated)
			e.setState(t, cubeTaskID, tc.from)
			resp, data := e.request(t, http.MethodPost, "/tasks", managerEventJSON(uuid.NewString(), cubeTaskID, tc.taskState))
			wantCubeError(t, resp, data, http.StatusConflict, "transition table")
		})
	}
}

func TestCubePost_BadRequests_400InCubesShape(t *testing.T) {
	valid := managerEventJSON(uuid.NewString(), cubeTaskID, 1)
	for name, tc := range map[string]struct {
		body, msg string
	}{
		"unknown field":     {strings.Replace(valid, `"Cpu": 0,`, `"Cpu": 0, "Cpus": 2,`, 1), "unknown field"},
		"unknown top field": {strings.Replace(valid, `"State": 2,`, `"State": 2, "Extra": true,`, 1), "unknown field"},
		"empty body":        {"", "empty"},
		"not JSON":          {"{", "truncated"},
		"two objects":       {valid + valid, "single TaskEvent"},
		"wrong type":        {strings.Replace(valid, `"Cpu": 0`, `"Cpu": "0"`, 1), "Cpu"},
		"malformed UUID":    {managerEventJSON(uuid.NewString(), "not-a-uuid", 1), "UUID"},
		"nil task ID":       {managerEventJSON(uuid.NewString(), uuid.Nil.String(), 1), "Task.ID is required"},
		"task Running":      {managerEventJSON(uuid.NewString(), cubeTaskID, 2), "Task.State"},
		"task Failed":       {managerEventJSON(uuid.NewString(), cubeTaskID, 4), "Task.State"},
		"unknown state":     {managerEventJSON(uuid.NewString(), cubeTaskID, 9), "Task.State"},
		"event state":       {strings.Replace(valid, `"State": 2,`, `"State": 7,`, 1), "TaskEvent.State"},
		"no image":          {strings.Replace(valid, `"strm/helloworld-http"`, `""`, 1), "spec.image"},
		"tiny memory":       {strings.Replace(valid, `"Memory": 0`, `"Memory": 1024`, 1), "spec.resources.memory"},
		"bad port":          {strings.Replace(valid, `"ExposedPorts": null`, `"ExposedPorts": {"80/sctp": {}}`, 1), "sctp"},
		"bad policy":        {strings.Replace(valid, `"RestartPolicy": ""`, `"RestartPolicy": "never"`, 1), "RestartPolicy"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newTestEnv(t)
			resp, data := e.request(t, http.MethodPost, "/tasks", tc.body)
			wantCubeError(t, resp, data, http.StatusBadRequest, tc.msg)
		})
	}
}

func TestCubePost_TooLarge_413(t *testing.T) {
	e := newTestEnv(t)
	big := strings.Replace(managerEventJSON(uuid.NewString(), cubeTaskID, 1),
		`"HealthCheck": ""`, `"HealthCheck": "`+strings.Repeat("x", cubeMaxBodyBytes)+`"`, 1)
	resp, data := e.request(t, http.MethodPost, "/tasks", big)
	wantCubeError(t, resp, data, http.StatusRequestEntityTooLarge, "larger than")
}

func TestCubePost_CompletedForUnknownID_404(t *testing.T) {
	e := newTestEnv(t)
	resp, data := e.request(t, http.MethodPost, "/tasks", managerEventJSON(uuid.NewString(), cubeTaskID, 3))
	wantCubeError(t, resp, data, http.StatusNotFound, cubeTaskID)
}

func TestCubeList_Empty_IsAnEmptyArray(t *testing.T) {
	e := newTestEnv(t)
	resp, data := e.request(t, http.MethodGet, "/tasks", "")
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(data)) != "[]" {
		t.Errorf("GET /tasks = %d %q; want 200 []", resp.StatusCode, data)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestCubeDelete(t *testing.T) {
	e := newTestEnv(t)
	e.postEvent(t, managerEventJSON(uuid.NewString(), cubeTaskID, 1), http.StatusCreated)

	resp, data := e.request(t, http.MethodDelete, "/tasks/not-a-uuid", "")
	wantCubeError(t, resp, data, http.StatusBadRequest, "malformed task ID")

	resp, data = e.request(t, http.MethodDelete, "/tasks/"+uuid.NewString(), "")
	wantCubeError(t, resp, data, http.StatusNotFound, "not found")

	resp, data = e.request(t, http.MethodDelete, "/tasks/"+cubeTaskID, "")
	if resp.StatusCode != http.StatusNoContent || len(data) != 0 {
		t.Fatalf("DELETE known = %d %q; want 204 and no body", resp.StatusCode, data)
	}
	if got := e.stored(t, cubeTaskID); got.Spec.DesiredState != v1.Completed || got.DeletionTimestamp != nil {
		t.Errorf("after DELETE: desiredState %s, deletionTimestamp %v; want Completed and the object kept",
			got.Spec.DesiredState, got.DeletionTimestamp)
	}
	resp, _ = e.request(t, http.MethodDelete, "/tasks/"+cubeTaskID, "")
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("second DELETE = %d; want 204 (stopping is idempotent)", resp.StatusCode)
	}
}

func TestCubeDelete_FailedTask_StopsItAndItStaysFailed(t *testing.T) {
	e := newTestEnv(t)
	e.postEvent(t, managerEventJSON(uuid.NewString(), cubeTaskID, 1), http.StatusCreated)
	e.setState(t, cubeTaskID, v1.Failed)
	resp, data := e.request(t, http.MethodDelete, "/tasks/"+cubeTaskID, "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE of a Failed task = %d %s; want 204", resp.StatusCode, data)
	}
	if got := e.stored(t, cubeTaskID); got.Spec.DesiredState != v1.Completed || got.Status.State != v1.Failed {
		t.Errorf("desiredState %s, state %s; want Completed (nothing may start it) and still Failed", got.Spec.DesiredState, got.Status.State)
	}
	// The manager may still restart it: Failed → Scheduled.
	e.postEvent(t, managerEventJSON(uuid.NewString(), cubeTaskID, 1), http.StatusCreated)
	if got := e.stored(t, cubeTaskID); got.Spec.DesiredState != v1.Running || got.Spec.RestartGeneration != 1 {
		t.Errorf("after a restart: desiredState %s, restartGeneration %d; want Running, 1", got.Spec.DesiredState, got.Spec.RestartGeneration)
	}
}

func TestCubeGet(t *testing.T) {
	e := newTestEnv(t)
	e.postEvent(t, managerEventJSON(uuid.NewString(), cubeTaskID, 1), http.StatusCreated)

	resp, data := e.request(t, http.MethodGet, "/tasks/"+cubeTaskID, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET known = %d: %s", resp.StatusCode, data)
	}
	if got := decodeAs[cube.Task](t, data); got.ID.String() != cubeTaskID {
		t.Errorf("GET known = %+v", got)
	}
	resp, data = e.request(t, http.MethodGet, "/tasks/"+uuid.NewString(), "")
	wantCubeError(t, resp, data, http.StatusNotFound, "not found")
	resp, data = e.request(t, http.MethodGet, "/tasks/42", "")
	wantCubeError(t, resp, data, http.StatusBadRequest, "malformed")
}

func TestCubeRoutes_TrailingSlash(t *testing.T) {
	e := newTestEnv(t)
	resp, data := e.request(t, http.MethodPost, "/tasks/", managerEventJSON(uuid.NewString(), cubeTaskID, 1))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /tasks/ = %d: %s", resp.StatusCode, data)
	}
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/tasks/", http.StatusOK},
		{http.MethodGet, "/tasks/" + cubeTaskID + "/", http.StatusOK},
		{http.MethodGet, "/stats/", http.StatusOK},
		{http.MethodDelete, "/tasks/" + cubeTaskID + "/", http.StatusNoContent},
	} {
		if resp, data := e.request(t, tc.method, tc.path, ""); resp.StatusCode != tc.want {
			t.Errorf("%s %s = %d, want %d: %s", tc.method, tc.path, resp.StatusCode, tc.want, data)
		}
	}
}

func TestCubeRoutes_WrongMethod_405InCubesShape(t *testing.T) {
	e := newTestEnv(t)
	resp, data := e.request(t, http.MethodPut, "/tasks/", "")
	wantCubeError(t, resp, data, http.StatusMethodNotAllowed, "PUT")
	if got := resp.Header.Get("Allow"); got != "GET, POST" {
		t.Errorf("Allow = %q; want GET, POST", got)
	}
}

func TestCube_SeesTasksCreatedThroughV1(t *testing.T) {
	e := newTestEnv(t)
	created := e.put(t, "web", taskJSON("nginx", nil), http.StatusCreated)

	resp, data := e.request(t, http.MethodGet, "/tasks", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /tasks = %d: %s", resp.StatusCode, data)
	}
	tasks := *decodeAs[[]cube.Task](t, data)
	if len(tasks) != 1 || tasks[0].ID.String() != string(created.UID) || tasks[0].Name != "web" || tasks[0].Image != "nginx" {
		t.Fatalf("GET /tasks = %+v; want the v1 task, its uid as ID", tasks)
	}
	// A lookup by ID is a Get by name, never a scan: a /v1 task is listed
	// here but addressed through /v1.
	resp, data = e.request(t, http.MethodGet, "/tasks/"+string(created.UID), "")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /tasks/{uid} = %d, want 404: %s", resp.StatusCode, data)
	}
	resp, _ = e.request(t, http.MethodDelete, "/tasks/"+string(created.UID), "")
	if resp.StatusCode != http.StatusNotFound || e.stored(t, "web").Spec.DesiredState == v1.Completed {
		t.Errorf("DELETE /tasks/{uid} = %d; want 404 and the v1 task untouched", resp.StatusCode)
	}
}

// listCounter counts List calls, to prove a lookup does not scan.
type listCounter struct {
	store.Interface
	lists atomic.Int64
}

func (c *listCounter) List(ctx context.Context, sel labels.Selector) (*v1.TaskList, error) {
	c.lists.Add(1)
	return c.Interface.List(ctx, sel)
}

func TestCubeLookup_ManyTasks_IsOneGetNeverAList(t *testing.T) {
	counter := &listCounter{}
	e := newTestEnv(t, func(s *envSetup) {
		s.wrap = func(st store.Interface) store.Interface { counter.Interface = st; return counter }
	})
	const n = 300
	for i := range n {
		e.put(t, fmt.Sprintf("v1-task-%d", i), taskJSON("nginx", nil), http.StatusCreated)
	}
	e.postEvent(t, managerEventJSON(uuid.NewString(), cubeTaskID, 1), http.StatusCreated)
	counter.lists.Store(0)

	for _, tc := range []struct {
		method, id string
		want       int
	}{
		{http.MethodGet, cubeTaskID, http.StatusOK},
		{http.MethodGet, uuid.NewString(), http.StatusNotFound},
		{http.MethodDelete, uuid.NewString(), http.StatusNotFound},
		{http.MethodDelete, cubeTaskID, http.StatusNoContent},
	} {
		resp, data := e.request(t, tc.method, "/tasks/"+tc.id, "")
		if resp.StatusCode != tc.want {
			t.Errorf("%s /tasks/%s = %d, want %d: %s", tc.method, tc.id, resp.StatusCode, tc.want, data)
		}
	}
	// A POST for an unknown ID looks it up too before creating it.
	e.postEvent(t, managerEventJSON(uuid.NewString(), uuid.NewString(), 1), http.StatusCreated)
	if got := counter.lists.Load(); got != 0 {
		t.Fatalf("lookups listed the store %d times among %d tasks; want a Get by name", got, n+2)
	}
}

func TestCube_TasksPostedAppearInV1(t *testing.T) {
	e := newTestEnv(t)
	e.postEvent(t, managerEventJSON(uuid.NewString(), cubeTaskID, 1), http.StatusCreated)
	got := e.get(t, cubeTaskID)
	if got.Spec.Image != "strm/helloworld-http" || got.Annotations[cube.AnnotationName] != "test-chapter-5" {
		t.Errorf("GET /v1/tasks/%s = %+v", cubeTaskID, got)
	}
}

func TestCubeStats_CubesShapeAndTaskCount(t *testing.T) {
	e := newTestEnv(t)
	e.postEvent(t, managerEventJSON(uuid.NewString(), cubeTaskID, 1), http.StatusCreated)
	e.put(t, "web", taskJSON("nginx", nil), http.StatusCreated)

	resp, data := e.request(t, http.MethodGet, "/stats", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /stats = %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	var body struct {
		MemStats  map[string]uint64
		DiskStats map[string]uint64
		CpuStats  map[string]any
		LoadStats map[string]float64
		TaskCount int
	}
	if err := json.Unmarshal(data, &body); err != nil {
		t.Fatal(err)
	}
	if body.TaskCount != 2 || body.MemStats["mem_total"] == 0 || body.DiskStats["all"] == 0 ||
		body.CpuStats["id"] != "cpu" || body.LoadStats["process_total"] == 0 {
		t.Errorf("GET /stats = %s", data)
	}
}

func TestCubeStats_UnreadableHost_ZerosNotNulls(t *testing.T) {
	e := newTestEnv(t, func(s *envSetup) {
		s.cfg.HostStats = func() (hoststats.Stats, error) { return hoststats.Stats{}, errors.New("no /proc here") }
	})
	resp, data := e.request(t, http.MethodGet, "/stats", "")
	if resp.StatusCode != http.StatusOK || strings.Contains(string(data), "null") {
		t.Errorf("GET /stats = %d %s; want 200 with zero figures", resp.StatusCode, data)
	}
}

func TestCubePost_AfterV1Delete_409(t *testing.T) {
	e := newTestEnv(t)
	e.postEvent(t, managerEventJSON(uuid.NewString(), cubeTaskID, 1), http.StatusCreated)
	if _, err := e.store.Delete(context.Background(), cubeTaskID, ""); err != nil {
		t.Fatal(err)
	}
	resp, data := e.request(t, http.MethodPost, "/tasks", managerEventJSON(uuid.NewString(), cubeTaskID, 1))
	wantCubeError(t, resp, data, http.StatusConflict, "being deleted")
	if got := e.stored(t, cubeTaskID); got.DeletionTimestamp == nil || got.Spec.DesiredState != v1.Running {
		t.Errorf("the refused event changed the task: %+v", got)
	}
}
