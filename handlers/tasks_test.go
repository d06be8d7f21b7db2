package handlers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
)

func TestPutTask_BadInput_RejectedWithStatus(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct {
		name       string
		path       string
		body       string
		code       int
		reason     metav1.StatusReason
		causeField string // for 422: a field that must be among the causes
	}{
		{"unknown field", "web", `{"spec":{"image":"nginx","imagee":"x"}}`, 400, metav1.StatusReasonBadRequest, ""},
		{"unknown top-level field", "web", `{"spec":{"image":"nginx"},"extra":1}`, 400, metav1.StatusReasonBadRequest, ""},
		{"wrong type", "web", `{"spec":{"image":42}}`, 400, metav1.StatusReasonBadRequest, ""},
		{"bad quantity", "web", `{"spec":{"image":"nginx","resources":{"memory":"lots"}}}`, 400, metav1.StatusReasonBadRequest, ""},
		{"trailing object", "web", `{"spec":{"image":"nginx"}} {}`, 400, metav1.StatusReasonBadRequest, ""},
		{"trailing garbage", "web", `{"spec":{"image":"nginx"}}x`, 400, metav1.StatusReasonBadRequest, ""},
		{"truncated", "web", `{"spec":{"image":"ngi`, 400, metav1.StatusReasonBadRequest, ""},
		{"empty body", "web", ``, 400, metav1.StatusReasonBadRequest, ""},
		{"array body", "web", `[]`, 400, metav1.StatusReasonBadRequest, ""},
		{"name differs from path", "web", `{"metadata":{"name":"db"},"spec":{"image":"nginx"}}`, 400, metav1.StatusReasonBadRequest, ""},
		{"invalid name", "Not_A_Label", `{"spec":{"image":"nginx"}}`, 422, metav1.StatusReasonInvalid, "metadata.name"},
		{"missing image", "web", `{"spec":{}}`, 422, metav1.StatusReasonInvalid, "spec.image"},
		{"wrong kind", "web", `{"kind":"Pod","spec":{"image":"nginx"}}`, 422, metav1.StatusReasonInvalid, "kind"},
		{"wrong apiVersion", "web", `{"apiVersion":"v1","spec":{"image":"nginx"}}`, 422, metav1.StatusReasonInvalid, "apiVersion"},
		{"bad restart policy", "web", `{"spec":{"image":"nginx","restartPolicy":"Sometimes"}}`, 422, metav1.StatusReasonInvalid, "spec.restartPolicy"},
		{"body over 1MiB", "web", `{"spec":{"image":"nginx","args":["` + strings.Repeat("a", 2<<20) + `"]}}`, 413, metav1.StatusReasonRequestEntityTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := env.request(t, http.MethodPut, "/v1/tasks/"+tt.path, tt.body)
			st := wantStatus(t, resp, data, tt.code, tt.reason)
			if tt.causeField != "" {
				if st.Details == nil || !slices.ContainsFunc(st.Details.Causes, func(c metav1.StatusCause) bool { return c.Field == tt.causeField }) {
					t.Errorf("causes %+v lack field %s", st.Details, tt.causeField)
				}
			}
			// A rejected request writes nothing.
			if resp, _ := env.request(t, http.MethodGet, "/v1/tasks/"+tt.path, ""); resp.StatusCode != http.StatusNotFound {
				t.Errorf("task %s exists after a rejected PUT (code %d)", tt.path, resp.StatusCode)
			}
		})
	}
}

func TestPutTask_NewThenExisting_201Then200(t *testing.T) {
	env := newTestEnv(t)
	created := env.put(t, "web", taskJSON("nginx:1", map[string]string{"app": "web"}), http.StatusCreated)
	if created.Name != "web" || created.UID == "" || created.Generation != 1 || created.ResourceVersion == "" {
		t.Fatalf("created metadata %+v", created.ObjectMeta)
	}
	if created.APIVersion != v1.APIVersion || created.Kind != v1.KindTask {
		t.Errorf("type meta %+v, want defaulted", created.TypeMeta)
	}
	if created.Spec.RestartPolicy != v1.RestartAlways || created.Spec.DesiredState != v1.Running {
		t.Errorf("spec not defaulted: %+v", created.Spec)
	}
	if !slices.Equal(created.Finalizers, []string{v1.FinalizerContainers}) {
		t.Errorf("finalizers %v, want [%s]", created.Finalizers, v1.FinalizerContainers)
	}
	if created.Status.State != v1.Pending {
		t.Errorf("state %q, want Pending", created.Status.State)
	}

	updated := env.put(t, "web", taskJSON("nginx:2", map[string]string{"app": "web", "tier": "front"}), http.StatusOK)
	if updated.UID != created.UID || !slices.Equal(updated.Finalizers, created.Finalizers) {
		t.Errorf("update lost uid or finalizers: %+v", updated.ObjectMeta)
	}
	if updated.Spec.Image != "nginx:2" || updated.Labels["tier"] != "front" {
		t.Errorf("update not applied: labels %v, spec %+v", updated.Labels, updated.Spec)
	}
}

func TestPutTask_SameSpecTwice_KeepsGenerationAndResourceVersion(t *testing.T) {
	env := newTestEnv(t)
	body := `{"apiVersion":"cubelet/v1","kind":"Task","metadata":{"name":"web","labels":{"a":"b"}},` +
		`"spec":{"image":"nginx","resources":{"memory":"64Mi","cpu":"0.5"},"ports":[{"containerPort":80}]}}`
	first := env.put(t, "web", body, http.StatusCreated)
	second := env.put(t, "web", body, http.StatusOK)
	if second.Generation != first.Generation || second.ResourceVersion != first.ResourceVersion {
		t.Errorf("generation/RV %d/%s after the same spec, want %d/%s",
			second.Generation, second.ResourceVersion, first.Generation, first.ResourceVersion)
	}
	// The same spec in another spelling is still the same spec.
	respelled := `{"spec":{"image":"nginx","restartPolicy":"Always","resources":{"memory":"67108864","cpu":"500m"},` +
		`"ports":[{"containerPort":80,"protocol":"TCP"}]},"metadata":{"labels":{"a":"b"}}}`
	third := env.put(t, "web", respelled, http.StatusOK)
	if third.Generation != first.Generation || third.ResourceVersion != first.ResourceVersion {
		t.Errorf("generation/RV %d/%s after a respelled spec, want %d/%s",
			third.Generation, third.ResourceVersion, first.Generation, first.ResourceVersion)
	}
}

func TestPutTask_ChangedSpec_BumpsGeneration(t *testing.T) {
	env := newTestEnv(t)
	first := env.put(t, "web", taskJSON("nginx:1", nil), http.StatusCreated)
	labelled := env.put(t, "web", taskJSON("nginx:1", map[string]string{"a": "b"}), http.StatusOK)
	if labelled.Generation != first.Generation || labelled.ResourceVersion == first.ResourceVersion {
		t.Errorf("a label change: generation %d (want %d), RV %s (want a new one)",
			labelled.Generation, first.Generation, labelled.ResourceVersion)
	}
	changed := env.put(t, "web", taskJSON("nginx:2", map[string]string{"a": "b"}), http.StatusOK)
	if changed.Generation != first.Generation+1 {
		t.Errorf("generation %d after a spec change, want %d", changed.Generation, first.Generation+1)
	}
}

func TestPutTask_ResourceVersionPrecondition(t *testing.T) {
	env := newTestEnv(t)
	first := env.put(t, "web", taskJSON("nginx:1", nil), http.StatusCreated)
	second := env.put(t, "web", taskJSON("nginx:2", nil), http.StatusOK)
	withRV := func(rv, image string) string {
		return fmt.Sprintf(`{"metadata":{"resourceVersion":%q},"spec":{"image":%q}}`, rv, image)
	}
	tests := []struct {
		name string
		task string
		body string
		code int
	}{
		{"stale RV with a change", "web", withRV(first.ResourceVersion, "nginx:3"), http.StatusConflict},
		{"stale RV without a change", "web", withRV(first.ResourceVersion, "nginx:2"), http.StatusConflict},
		{"RV on a task that does not exist", "gone", withRV(first.ResourceVersion, "nginx:3"), http.StatusConflict},
		{"current RV", "web", withRV(second.ResourceVersion, "nginx:3"), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := env.request(t, http.MethodPut, "/v1/tasks/"+tt.task, tt.body)
			if tt.code == http.StatusConflict {
				wantStatus(t, resp, data, tt.code, metav1.StatusReasonConflict)
				return
			}
			if resp.StatusCode != tt.code {
				t.Fatalf("code %d, want %d: %s", resp.StatusCode, tt.code, data)
			}
		})
	}
	if got := env.get(t, "web"); got.Spec.Image != "nginx:3" {
		t.Errorf("image %q, want nginx:3 (only the current RV applies)", got.Spec.Image)
	}
}

func TestPutTask_StatusInBody_Ignored(t *testing.T) {
	env := newTestEnv(t)
	body := `{"spec":{"image":"nginx"},"status":{"state":"Running","containerID":"abc"}}`
	created := env.put(t, "web", body, http.StatusCreated)
	if created.Status.State != v1.Pending || created.Status.ContainerID != "" {
		t.Errorf("status %+v, want Pending with no container", created.Status)
	}
}

func TestPutTask_WhileDeleting_Conflict(t *testing.T) {
	env := newTestEnv(t)
	env.put(t, "web", taskJSON("nginx:1", nil), http.StatusCreated)
	if resp, data := env.request(t, http.MethodDelete, "/v1/tasks/web", ""); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE: code %d: %s", resp.StatusCode, data)
	}
	resp, data := env.request(t, http.MethodPut, "/v1/tasks/web", taskJSON("nginx:2", nil))
	wantStatus(t, resp, data, http.StatusConflict, metav1.StatusReasonConflict)
}

func TestGetTask_Unknown_NotFound(t *testing.T) {
	env := newTestEnv(t)
	resp, data := env.request(t, http.MethodGet, "/v1/tasks/nope", "")
	wantStatus(t, resp, data, http.StatusNotFound, metav1.StatusReasonNotFound)
}

func TestListTasks_LabelSelector(t *testing.T) {
	env := newTestEnv(t)
	env.put(t, "a", taskJSON("nginx", map[string]string{"app": "web", "tier": "front"}), http.StatusCreated)
	env.put(t, "b", taskJSON("nginx", map[string]string{"app": "web"}), http.StatusCreated)
	last := env.put(t, "c", taskJSON("redis", map[string]string{"app": "db"}), http.StatusCreated)
	tests := []struct {
		selector string
		want     []string
	}{
		{"", []string{"a", "b", "c"}},
		{"app%3Dweb", []string{"a", "b"}},
		{"app%3Dweb,tier%3Dfront", []string{"a"}},
		{"app+in+(db,cache)", []string{"c"}},
		{"!tier", []string{"b", "c"}},
		{"app%3Dnone", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.selector, func(t *testing.T) {
			resp, data := env.request(t, http.MethodGet, "/v1/tasks?labelSelector="+tt.selector, "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("code %d: %s", resp.StatusCode, data)
			}
			if !strings.Contains(string(data), `"items":[`) {
				t.Errorf("items not an array: %s", data)
			}
			list := decodeAs[v1.TaskList](t, data)
			if list.Kind != v1.KindTaskList || list.ResourceVersion != last.ResourceVersion {
				t.Errorf("list kind %q RV %q, want TaskList at %s", list.Kind, list.ResourceVersion, last.ResourceVersion)
			}
			var names []string
			for _, it := range list.Items {
				names = append(names, it.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, tt.want) && !(len(names) == 0 && len(tt.want) == 0) {
				t.Errorf("names %v, want %v", names, tt.want)
			}
		})
	}
}

func TestListTasks_BadSelector_BadRequest(t *testing.T) {
	env := newTestEnv(t)
	for _, sel := range []string{"app%3D%3D%3D", "a+in+(", "!!x"} {
		resp, data := env.request(t, http.MethodGet, "/v1/tasks?labelSelector="+sel, "")
		wantStatus(t, resp, data, http.StatusBadRequest, metav1.StatusReasonBadRequest)
	}
}

func TestDeleteTask_WithFinalizer_AcceptedAndKeptWithDeletionTimestamp(t *testing.T) {
	env := newTestEnv(t)
	env.put(t, "web", taskJSON("nginx", nil), http.StatusCreated)
	resp, data := env.request(t, http.MethodDelete, "/v1/tasks/web", "")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE: code %d, want 202: %s", resp.StatusCode, data)
	}
	if got := decodeAs[v1.Task](t, data); got.DeletionTimestamp == nil {
		t.Errorf("DELETE body without deletionTimestamp: %s", data)
	}
	if got := env.get(t, "web"); got.DeletionTimestamp == nil {
		t.Errorf("stored task without deletionTimestamp: %+v", got.ObjectMeta)
	}
}

func TestDeleteTask_WithoutFinalizer_GoneAtOnce(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	if _, err := env.store.Create(ctx, &v1.Task{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: v1.TaskSpec{Image: "nginx"}}); err != nil {
		t.Fatal(err)
	}
	resp, data := env.request(t, http.MethodDelete, "/v1/tasks/web", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: code %d, want 200: %s", resp.StatusCode, data)
	}
	resp, data = env.request(t, http.MethodGet, "/v1/tasks/web", "")
	wantStatus(t, resp, data, http.StatusNotFound, metav1.StatusReasonNotFound)
}

func TestDeleteTask_Preconditions(t *testing.T) {
	env := newTestEnv(t)
	created := env.put(t, "web", taskJSON("nginx", nil), http.StatusCreated)
	tests := []struct {
		name   string
		path   string
		code   int
		reason metav1.StatusReason
	}{
		{"unknown task", "/v1/tasks/nope", http.StatusNotFound, metav1.StatusReasonNotFound},
		{"wrong uid", "/v1/tasks/web?uid=00000000-0000-0000-0000-000000000000", http.StatusConflict, metav1.StatusReasonConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := env.request(t, http.MethodDelete, tt.path, "")
			wantStatus(t, resp, data, tt.code, tt.reason)
		})
	}
	resp, data := env.request(t, http.MethodDelete, "/v1/tasks/web?uid="+string(created.UID), "")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE with the right uid: code %d: %s", resp.StatusCode, data)
	}
}

func TestRouter_UnknownRouteAndMethod_Status(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct {
		method, path string
		code         int
		reason       metav1.StatusReason
	}{
		{http.MethodGet, "/v2/tasks", http.StatusNotFound, metav1.StatusReasonNotFound},
		{http.MethodGet, "/v1/tasks/web/exec", http.StatusNotFound, metav1.StatusReasonNotFound},
		{http.MethodPost, "/v1/tasks/web", http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed},
		{http.MethodDelete, "/v1/tasks", http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, data := env.request(t, tt.method, tt.path, "")
			wantStatus(t, resp, data, tt.code, tt.reason)
		})
	}
}

func TestPutTask_ConcurrentCreates_OneCreatedRestUnchanged(t *testing.T) {
	env := newTestEnv(t)
	const n = 8
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, _ := env.request(t, http.MethodPut, "/v1/tasks/web", taskJSON("nginx", nil))
			codes <- resp.StatusCode
		})
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[http.StatusCreated] != 1 || count[http.StatusOK] != n-1 {
		t.Errorf("codes %v, want one 201 and %d 200", count, n-1)
	}
	if got := env.get(t, "web"); got.Generation != 1 {
		t.Errorf("generation %d, want 1", got.Generation)
	}
}

func TestPutTask_CreateRacesAnotherCreate_RetriedAsUpdate(t *testing.T) {
	env := newTestEnv(t, func(s *envSetup) {
		s.wrap = func(st store.Interface) store.Interface { return &missFirstGetStore{Interface: st} }
	})
	env.put(t, "web", taskJSON("nginx:1", nil), http.StatusCreated)
	// The wrapper's next Get misses the task, as if the other create had
	// not landed yet; the store's AlreadyExists sends the PUT to update.
	got := env.put(t, "web", taskJSON("nginx:2", nil), http.StatusOK)
	if got.Spec.Image != "nginx:2" || got.Generation != 2 {
		t.Errorf("image %q generation %d, want nginx:2 at 2", got.Spec.Image, got.Generation)
	}
}

func TestPutTask_StoreFailure_InternalErrorStatus(t *testing.T) {
	env := newTestEnv(t)
	if err := env.store.Close(); err != nil {
		t.Fatal(err)
	}
	resp, data := env.request(t, http.MethodPut, "/v1/tasks/web", taskJSON("nginx", nil))
	wantStatus(t, resp, data, http.StatusInternalServerError, metav1.StatusReasonInternalError)
}

// missFirstGetStore answers NotFound to the second Get only: the first
// lets the initial create through, the third serves the retry.
type missFirstGetStore struct {
	store.Interface
	gets atomic.Int32
}

func (s *missFirstGetStore) Get(ctx context.Context, name string) (*v1.Task, error) {
	if s.gets.Add(1) == 2 {
		return nil, apierrors.NewNotFound(v1.Resource, name)
	}
	return s.Interface.Get(ctx, name)
}
