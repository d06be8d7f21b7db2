package handlers

import (
	"fmt"
	"net/http"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The limits of issue 11 over HTTP: quantities that overflow or exceed
// the host, image references outside the distribution grammar and
// oversized metadata get 422 with a field cause on /v1 and 400 in Cube's
// shape on /tasks, and nothing is stored.

func TestPutTask_OverLimits_422WithCause_StoresNothing(t *testing.T) {
	spec := func(extra string) string { return `{"spec":{"image":"nginx"` + extra + `}}` }
	tests := []struct {
		name, body, cause string
	}{
		{"cpu 1e400", spec(`,"resources":{"cpu":"1e400"}`), "spec.resources.cpu"},
		{"cpu that wrapped to 0.45", spec(`,"resources":{"cpu":"18446744073710"}`), "spec.resources.cpu"},
		{"cpu over 1024", spec(`,"resources":{"cpu":"1025"}`), "spec.resources.cpu"},
		{"cpu over the host", spec(fmt.Sprintf(`,"resources":{"cpu":"%d"}`, goruntime.NumCPU()+1)), "spec.resources.cpu"},
		{"cpu below Docker's 0.01", spec(`,"resources":{"cpu":"1m"}`), "spec.resources.cpu"},
		{"memory 1e30", spec(`,"resources":{"memory":"1e30"}`), "spec.resources.memory"},
		{"memory over the host", spec(`,"resources":{"memory":"1Pi"}`), "spec.resources.memory"},
		{"memory below Docker's 6Mi", spec(`,"resources":{"memory":"5Mi"}`), "spec.resources.memory"},
		{"image a path", `{"spec":{"image":"/etc/passwd"}}`, "spec.image"},
		{"image dot dot", `{"spec":{"image":"../../x"}}`, "spec.image"},
		{"image with NUL", `{"spec":{"image":"nginx\u0000"}}`, "spec.image"},
		{"image upper case", `{"spec":{"image":"Nginx"}}`, "spec.image"},
		{"annotations over 256 KiB", `{"metadata":{"annotations":{"a":"` + strings.Repeat("x", 256<<10) + `"}},"spec":{"image":"nginx"}}`, "metadata.annotations"},
		{"label value over 63 bytes", `{"metadata":{"labels":{"a":"` + strings.Repeat("x", 64) + `"}},"spec":{"image":"nginx"}}`, "metadata.labels"},
		{"args over 256 KiB", spec(`,"args":["` + strings.Repeat("a", 100<<10) + `","` + strings.Repeat("a", 100<<10) + `","` + strings.Repeat("a", 100<<10) + `"]`), "spec.args"},
		{"env over 256 KiB", spec(`,"env":[{"name":"A","value":"` + strings.Repeat("a", 100<<10) + `"},{"name":"B","value":"` + strings.Repeat("a", 100<<10) + `"},{"name":"C","value":"` + strings.Repeat("a", 100<<10) + `"}]`), "spec.env"},
		{"relative working dir", spec(`,"workingDir":"app"`), "spec.workingDir"},
	}
	e := newTestEnv(t)
	e.put(t, "web", `{"spec":{"image":"nginx"}}`, http.StatusCreated)
	for _, tt := range tests {
		for _, name := range []string{"new", "web"} { // a create and an update
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				before := e.snapshot(t)
				resp, data := e.request(t, http.MethodPut, "/v1/tasks/"+name, tt.body)
				st := wantStatus(t, resp, data, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)
				if st.Details == nil || !slices.ContainsFunc(st.Details.Causes, func(c metav1.StatusCause) bool { return c.Field == tt.cause }) {
					t.Errorf("causes %+v lack field %s", st.Details, tt.cause)
				}
				e.requireUnchanged(t, before)
			})
		}
	}
}

// Quantities that resource.ParseQuantity would take minutes to parse
// ("1e-674407370" builds 10^674407370) are refused before the decoder
// sees them, as malformed: 400, at once, and nothing is stored.
func TestPutTask_UnparseableQuantities_400AtOnce(t *testing.T) {
	e := newTestEnv(t)
	for _, q := range []string{`"1e-674407370"`, `"12345678901234567890123e67440730"`, `1e-674407370`, `"` + strings.Repeat("1", 65) + `"`} {
		t.Run(q, func(t *testing.T) {
			before := e.snapshot(t)
			start := time.Now()
			resp, data := e.request(t, http.MethodPut, "/v1/tasks/new", `{"spec":{"image":"nginx","resources":{"cpu":"1","cpu":`+q+`}}}`)
			wantStatus(t, resp, data, http.StatusBadRequest, metav1.StatusReasonBadRequest)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("answered after %s", took)
			}
			e.requireUnchanged(t, before)
		})
	}
}

func TestCubePost_OverLimits_400InCubesShape_StoresNothing(t *testing.T) {
	// task is the manager's event for a new task with one field replaced.
	task := func(old, new string) string {
		body := managerEventJSON(uuid.NewString(), uuid.NewString(), 1)
		if !strings.Contains(body, old) {
			t.Fatalf("the manager's event lacks %s", old)
		}
		return strings.Replace(body, old, new, 1)
	}
	tests := []struct {
		name, body, msgPart string
	}{
		{"name of 1,000,036 bytes", task(`"Name": "test-chapter-5"`, `"Name": "`+strings.Repeat("n", 1_000_036)+`"`), "Task.Name"},
		{"name of 254 bytes", task(`"Name": "test-chapter-5"`, `"Name": "`+strings.Repeat("n", 254)+`"`), "Task.Name"},
		{"health check of 4 KiB", task(`"HealthCheck": ""`, `"HealthCheck": "/`+strings.Repeat("h", 4<<10)+`"`), "Task.HealthCheck"},
		{"image a path", task(`"Image": "strm/helloworld-http"`, `"Image": "/etc/passwd"`), "spec.image"},
		{"image with NUL", task(`"Image": "strm/helloworld-http"`, `"Image": "x\u0000"`), "spec.image"},
		{"cpu a million cores", task(`"Cpu": 0`, `"Cpu": 1e6`), "spec.resources.cpu"},
		{"memory an exbibyte", task(`"Memory": 0`, `"Memory": 1152921504606846976`), "spec.resources.memory"},
		{"memory over the host", task(`"Memory": 0`, `"Memory": 1125899906842624`), "spec.resources.memory"},
	}
	e := newTestEnv(t)
	e.postEvent(t, managerEventJSON(uuid.NewString(), cubeTaskID, 1), http.StatusCreated)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot(t)
			resp, data := e.request(t, http.MethodPost, "/tasks", tt.body)
			wantCubeError(t, resp, data, http.StatusBadRequest, tt.msgPart)
			if len(data) > 4<<10 {
				t.Errorf("error body of %d bytes: a refusal must not echo the oversized value", len(data))
			}
			e.requireUnchanged(t, before)
		})
	}
}
