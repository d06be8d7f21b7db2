package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// Hostile and malformed requests, against a store that already holds tasks
// of both APIs. Whatever the bytes, the answer is a 4xx in the API's error
// shape (metav1.Status on /v1, Cube's ErrResponse on /tasks), never a 5xx
// or a dropped connection, and the store is exactly as it was: no
// half-written object, no spent resourceVersion.

const badInputCubeID = "5f0c7a4e-2b51-4f3e-9a51-0c1f3b7a9e10"

// nested returns depth levels of JSON arrays around a string.
func nested(depth int) string {
	return strings.Repeat("[", depth) + `"x"` + strings.Repeat("]", depth)
}

func TestV1_BadInput_Always4xxStatus_StoreUnchanged(t *testing.T) {
	web := `{"spec":{"image":"nginx"}}`
	tests := []struct {
		name         string
		method, path string
		body         string
		code         int
		reason       metav1.StatusReason
	}{
		// Malformed JSON.
		{"truncated", "PUT", "/v1/tasks/new", `{"spec":{"image":"ngi`, 400, metav1.StatusReasonBadRequest},
		{"not JSON", "PUT", "/v1/tasks/new", `spec: {image: nginx}`, 400, metav1.StatusReasonBadRequest},
		{"only whitespace", "PUT", "/v1/tasks/new", " \n\t ", 400, metav1.StatusReasonBadRequest},
		{"string body", "PUT", "/v1/tasks/new", `"nginx"`, 400, metav1.StatusReasonBadRequest},
		{"number body", "PUT", "/v1/tasks/new", `42`, 400, metav1.StatusReasonBadRequest},
		{"invalid UTF-8 key", "PUT", "/v1/tasks/new", "{\"spec\":{\"image\":\"nginx\",\"\xff\":1}}", 400, metav1.StatusReasonBadRequest},
		{"NUL byte", "PUT", "/v1/tasks/new", "{\"spec\":{\"image\":\"nginx\"}}\x00", 400, metav1.StatusReasonBadRequest},
		{"two objects", "PUT", "/v1/tasks/new", web + web, 400, metav1.StatusReasonBadRequest},
		// Case and duplicates: decoded as the API server decodes, strictly.
		{"capitalised Spec", "PUT", "/v1/tasks/new", `{"Spec":{"image":"nginx"}}`, 400, metav1.StatusReasonBadRequest},
		{"capitalised Image", "PUT", "/v1/tasks/new", `{"spec":{"Image":"nginx"}}`, 400, metav1.StatusReasonBadRequest},
		{"upper-case metadata", "PUT", "/v1/tasks/new", `{"METADATA":{},"spec":{"image":"nginx"}}`, 400, metav1.StatusReasonBadRequest},
		{"duplicate key", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx","image":"evil"}}`, 400, metav1.StatusReasonBadRequest},
		{"duplicate spec", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx"},"spec":{"image":"evil"}}`, 400, metav1.StatusReasonBadRequest},
		// Fields cubelet does not have: no way to ask for host access.
		{"privileged", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx","privileged":true}}`, 400, metav1.StatusReasonBadRequest},
		{"host network", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx","hostNetwork":true}}`, 400, metav1.StatusReasonBadRequest},
		{"host PID", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx","hostPID":true}}`, 400, metav1.StatusReasonBadRequest},
		{"bind mount", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx","volumes":[{"hostPath":"/"}]}}`, 400, metav1.StatusReasonBadRequest},
		// Wrong types.
		{"image number", "PUT", "/v1/tasks/new", `{"spec":{"image":42}}`, 400, metav1.StatusReasonBadRequest},
		{"args string", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx","args":"-v"}}`, 400, metav1.StatusReasonBadRequest},
		{"port string", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx","ports":[{"containerPort":"80"}]}}`, 400, metav1.StatusReasonBadRequest},
		{"port overflow int32", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx","ports":[{"containerPort":4294967376}]}}`, 400, metav1.StatusReasonBadRequest},
		{"port float", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx","ports":[{"containerPort":80.5}]}}`, 400, metav1.StatusReasonBadRequest},
		{"grace huge", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx","stopGracePeriodSeconds":1e400}}`, 400, metav1.StatusReasonBadRequest},
		{"labels array", "PUT", "/v1/tasks/new", `{"metadata":{"labels":["a"]},"spec":{"image":"nginx"}}`, 400, metav1.StatusReasonBadRequest},
		{"spec null fields", "PUT", "/v1/tasks/new", `{"spec":null}`, 422, metav1.StatusReasonInvalid},
		{"cpu object", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx","resources":{"cpu":{}}}}`, 400, metav1.StatusReasonBadRequest},
		{"creationTimestamp garbage", "PUT", "/v1/tasks/new", `{"metadata":{"creationTimestamp":"yesterday"},"spec":{"image":"nginx"}}`, 400, metav1.StatusReasonBadRequest},
		// Deep nesting: refused, not a stack overflow.
		{"nesting in a known field", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx","args":` + nested(5000) + `}}`, 400, metav1.StatusReasonBadRequest},
		{"nesting past the decoder's limit", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx","x":` + nested(20000) + `}}`, 400, metav1.StatusReasonBadRequest},
		{"nested unknown objects", "PUT", "/v1/tasks/new", strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000), 400, metav1.StatusReasonBadRequest},
		// Huge bodies.
		{"body of 1MiB+1 whitespace", "PUT", "/v1/tasks/new", web + strings.Repeat(" ", maxBodyBytes+1-len(web)), 413, metav1.StatusReasonRequestEntityTooLarge},
		{"huge image", "PUT", "/v1/tasks/new", `{"spec":{"image":"` + strings.Repeat("n", 2<<20) + `"}}`, 413, metav1.StatusReasonRequestEntityTooLarge},
		{"many env vars", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx","env":[` + strings.TrimSuffix(strings.Repeat(`{"name":"A","value":"1"},`, 50000), ",") + `]}}`, 413, metav1.StatusReasonRequestEntityTooLarge},
		{"too many args under the limit", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx","args":[` + strings.TrimSuffix(strings.Repeat(`"a",`, 2000), ",") + `]}}`, 422, metav1.StatusReasonInvalid},
		{"long image under the limit", "PUT", "/v1/tasks/new", `{"spec":{"image":"` + strings.Repeat("n", 2000) + `"}}`, 422, metav1.StatusReasonInvalid},
		// Invalid names.
		{"upper case name", "PUT", "/v1/tasks/Web", web, 422, metav1.StatusReasonInvalid},
		{"underscore", "PUT", "/v1/tasks/my_task", web, 422, metav1.StatusReasonInvalid},
		{"dot", "PUT", "/v1/tasks/a.b", web, 422, metav1.StatusReasonInvalid},
		{"64 characters", "PUT", "/v1/tasks/" + strings.Repeat("a", 64), web, 422, metav1.StatusReasonInvalid},
		{"leading dash", "PUT", "/v1/tasks/-web", web, 422, metav1.StatusReasonInvalid},
		{"escaped slash", "PUT", "/v1/tasks/a%2Fb", web, 404, metav1.StatusReasonNotFound},
		{"dot dot", "PUT", "/v1/tasks/..", web, 404, metav1.StatusReasonNotFound},
		{"unicode", "PUT", "/v1/tasks/%C3%A9t%C3%A9", web, 422, metav1.StatusReasonInvalid},
		{"space", "PUT", "/v1/tasks/a%20b", web, 422, metav1.StatusReasonInvalid},
		{"name in body differs", "PUT", "/v1/tasks/new", `{"metadata":{"name":"web"},"spec":{"image":"nginx"}}`, 400, metav1.StatusReasonBadRequest},
		// Invalid states and transitions.
		{"desiredState Failed", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx","desiredState":"Failed"}}`, 422, metav1.StatusReasonInvalid},
		{"desiredState Pending", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx","desiredState":"Pending"}}`, 422, metav1.StatusReasonInvalid},
		{"desiredState lower case", "PUT", "/v1/tasks/new", `{"spec":{"image":"nginx","desiredState":"running"}}`, 422, metav1.StatusReasonInvalid},
		{"update to desiredState Scheduled", "PUT", "/v1/tasks/web", `{"spec":{"image":"nginx","desiredState":"Scheduled"}}`, 422, metav1.StatusReasonInvalid},
		{"restartGeneration backwards", "PUT", "/v1/tasks/web", `{"spec":{"image":"nginx","restartGeneration":-1}}`, 422, metav1.StatusReasonInvalid},
		// Preconditions.
		{"stale resourceVersion", "PUT", "/v1/tasks/web", `{"metadata":{"resourceVersion":"1"},"spec":{"image":"nginx:2"}}`, 409, metav1.StatusReasonConflict},
		{"resourceVersion on create", "PUT", "/v1/tasks/new", `{"metadata":{"resourceVersion":"5"},"spec":{"image":"nginx"}}`, 409, metav1.StatusReasonConflict},
		{"garbage resourceVersion", "PUT", "/v1/tasks/web", `{"metadata":{"resourceVersion":"abc"},"spec":{"image":"nginx:2"}}`, 409, metav1.StatusReasonConflict},
		{"delete with other uid", "DELETE", "/v1/tasks/web?uid=" + uuid.NewString(), "", 409, metav1.StatusReasonConflict},
		{"delete unknown", "DELETE", "/v1/tasks/nope", "", 404, metav1.StatusReasonNotFound},
		// Queries.
		{"bad selector", "GET", "/v1/tasks?labelSelector=a%20in%20(", "", 400, metav1.StatusReasonBadRequest},
		{"bad watch flag", "GET", "/v1/tasks?watch=maybe", "", 400, metav1.StatusReasonBadRequest},
		{"bad watch rv", "GET", "/v1/tasks?watch=true&resourceVersion=-3", "", 400, metav1.StatusReasonBadRequest},
		{"bad tail", "GET", "/v1/tasks/web/logs?tail=x", "", 400, metav1.StatusReasonBadRequest},
		{"wrong method", "POST", "/v1/tasks/web", web, 405, metav1.StatusReasonMethodNotAllowed},
	}
	e := newTestEnv(t)
	e.put(t, "web", `{"metadata":{"labels":{"app":"web"}},"spec":{"image":"nginx"}}`, http.StatusCreated)
	e.postEvent(t, managerEventJSON(uuid.NewString(), badInputCubeID, 1), http.StatusCreated)
	// Move "web" past resourceVersion 1 so "1" is stale.
	e.put(t, "web", `{"spec":{"image":"nginx"}}`, http.StatusOK)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot(t)
			resp, data := e.request(t, tc.method, tc.path, tc.body)
			wantStatus(t, resp, data, tc.code, tc.reason)
			e.requireUnchanged(t, before)
		})
	}
}

func TestCube_BadInput_Always4xxInCubesShape_StoreUnchanged(t *testing.T) {
	// A new task each time, so a request that spec checks would reject is
	// not merely an event for a task that exists.
	valid := managerEventJSON(uuid.NewString(), uuid.NewString(), 1)
	tests := []struct {
		name         string
		method, path string
		body         string
		code         int
	}{
		{"lower-case keys", "POST", "/tasks", strings.ToLower(valid), 400},
		{"duplicate key", "POST", "/tasks", strings.Replace(managerEventJSON(uuid.NewString(), uuid.NewString(), 1), `"Cpu": 0,`, `"Cpu": 0, "Cpu": 0,`, 1), 201},
		{"state as string", "POST", "/tasks", strings.Replace(valid, `"State": 2,`, `"State": "Running",`, 1), 400},
		{"state negative", "POST", "/tasks", strings.Replace(valid, `"State": 2,`, `"State": -1,`, 1), 400},
		{"state overflow", "POST", "/tasks", strings.Replace(valid, `"State": 2,`, `"State": 99999999999999999999,`, 1), 400},
		{"timestamp garbage", "POST", "/tasks", strings.Replace(valid, `"Timestamp": "0001-01-01T00:00:00Z"`, `"Timestamp": "now"`, 1), 400},
		{"memory negative", "POST", "/tasks", strings.Replace(valid, `"Memory": 0`, `"Memory": -5`, 1), 400},
		{"deep nesting", "POST", "/tasks", strings.Replace(valid, `"ExposedPorts": null`, `"ExposedPorts": `+nested(20000), 1), 400},
		{"array body", "POST", "/tasks", "[" + valid + "]", 400},
		{"null body", "POST", "/tasks", "null", 400},
		{"huge body", "POST", "/tasks", valid + strings.Repeat(" ", cubeMaxBodyBytes), 413},
		{"task ID too short", "POST", "/tasks", managerEventJSON(uuid.NewString(), cubeTaskID[:30], 1), 400},
		// Transitions outside the seed's table on an existing task.
		{"running to pending", "POST", "/tasks", managerEventJSON(uuid.NewString(), badInputCubeID, 0), 201},
		{"to Running directly", "POST", "/tasks", managerEventJSON(uuid.NewString(), badInputCubeID, 2), 400},
		{"to Failed directly", "POST", "/tasks", managerEventJSON(uuid.NewString(), badInputCubeID, 4), 400},
		{"delete malformed ID", "DELETE", "/tasks/not-a-uuid", "", 400},
		{"delete unknown ID", "DELETE", "/tasks/" + uuid.NewString(), "", 404},
		{"get malformed ID", "GET", "/tasks/1234", "", 400},
	}
	e := newTestEnv(t)
	e.postEvent(t, managerEventJSON(uuid.NewString(), badInputCubeID, 1), http.StatusCreated)
	e.setState(t, badInputCubeID, v1.Running)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot(t)
			resp, data := e.request(t, tc.method, tc.path, tc.body)
			if tc.code == http.StatusCreated {
				// Accepted forms (Cube's manager is encoding/json: duplicate
				// keys are its business) must still be well-formed.
				if resp.StatusCode >= 500 {
					t.Fatalf("code %d: %s", resp.StatusCode, data)
				}
				return
			}
			wantCubeError(t, resp, data, tc.code, "")
			e.requireUnchanged(t, before)
		})
	}
}

// snapshot is the store's whole content with its revision.
func (e *testEnv) snapshot(t *testing.T) *v1.TaskList {
	t.Helper()
	list, err := e.store.List(context.Background(), nil)
	if err != nil {
		t.Fatalf("list store: %v", err)
	}
	return list
}

// requireUnchanged fails unless the store still holds exactly before.
func (e *testEnv) requireUnchanged(t *testing.T, before *v1.TaskList) {
	t.Helper()
	after := e.snapshot(t)
	if after.ResourceVersion != before.ResourceVersion || !apiequality.Semantic.DeepEqual(after.Items, before.Items) {
		b, _ := json.Marshal(before)
		a, _ := json.Marshal(after)
		t.Fatalf("a rejected request changed the store:\nbefore %s\nafter  %s", b, a)
	}
}
