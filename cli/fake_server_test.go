package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// fakeServer is a tiny in-memory v1 API: enough of the server's PUT, GET
// and DELETE semantics (generation, resourceVersion preconditions, Status
// errors) to test the commands against, without cubelet's store.
type fakeServer struct {
	t     *testing.T
	mu    sync.Mutex
	rv    int
	tasks map[string]*v1.Task
	puts  []*v1.Task // bodies as received
	// conflicts makes the next n PUTs fail with 409.
	conflicts int
	token     string
}

func newFakeServer(t *testing.T) (*fakeServer, *Client) {
	t.Helper()
	f := &fakeServer{t: t, tasks: map[string]*v1.Task{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		writeFakeStatus(w, apierrors.NewUnauthorized("a valid bearer token is required"))
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/v1/tasks/")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/tasks":
		l := &v1.TaskList{}
		l.ResourceVersion = strconv.Itoa(f.rv)
		for _, t := range f.tasks {
			l.Items = append(l.Items, *t)
		}
		writeFakeJSON(w, http.StatusOK, l)
	case r.Method == http.MethodGet:
		t, ok := f.tasks[name]
		if !ok {
			writeFakeStatus(w, apierrors.NewNotFound(v1.Resource, name))
			return
		}
		writeFakeJSON(w, http.StatusOK, t)
	case r.Method == http.MethodPut:
		f.put(w, r, name)
	case r.Method == http.MethodDelete:
		t, ok := f.tasks[name]
		if !ok {
			writeFakeStatus(w, apierrors.NewNotFound(v1.Resource, name))
			return
		}
		delete(f.tasks, name)
		writeFakeJSON(w, http.StatusOK, t)
	default:
		http.Error(w, "unexpected", http.StatusTeapot)
	}
}

func (f *fakeServer) put(w http.ResponseWriter, r *http.Request, name string) {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	var in v1.Task
	if err := dec.Decode(&in); err != nil {
		writeFakeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	f.puts = append(f.puts, &in)
	if in.Spec.Image == "" {
		writeFakeStatus(w, apierrors.NewInvalid(schema.GroupKind{Group: "cubelet", Kind: "Task"}, name,
			field.ErrorList{field.Required(field.NewPath("spec", "image"), "")}))
		return
	}
	if f.conflicts > 0 {
		f.conflicts--
		f.rv++ // as if a status write got in first
		if cur := f.tasks[name]; cur != nil {
			cur.ResourceVersion = strconv.Itoa(f.rv)
		}
		writeFakeStatus(w, apierrors.NewConflict(v1.Resource, name, io.ErrUnexpectedEOF))
		return
	}
	cur, ok := f.tasks[name]
	if in.ResourceVersion != "" && (!ok || in.ResourceVersion != cur.ResourceVersion) {
		writeFakeStatus(w, apierrors.NewConflict(v1.Resource, name, io.ErrUnexpectedEOF))
		return
	}
	if !ok {
		f.rv++
		t := &v1.Task{TypeMeta: in.TypeMeta, ObjectMeta: metav1.ObjectMeta{Name: name, Labels: in.Labels,
			UID: "uid-1", Generation: 1, ResourceVersion: strconv.Itoa(f.rv)}, Spec: in.Spec,
			Status: v1.TaskStatus{State: v1.Pending}}
		f.tasks[name] = t
		writeFakeJSON(w, http.StatusCreated, t)
		return
	}
	if equality.Semantic.DeepEqual(cur.Spec, in.Spec) && equality.Semantic.DeepEqual(cur.Labels, in.Labels) &&
		equality.Semantic.DeepEqual(cur.Annotations, in.Annotations) {
		writeFakeJSON(w, http.StatusOK, cur)
		return
	}
	f.rv++
	if !equality.Semantic.DeepEqual(cur.Spec, in.Spec) {
		cur.Generation++
	}
	cur.Spec, cur.Labels, cur.Annotations = in.Spec, in.Labels, in.Annotations
	cur.ResourceVersion = strconv.Itoa(f.rv)
	writeFakeJSON(w, http.StatusOK, cur)
}

func writeFakeJSON(w http.ResponseWriter, code int, obj any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(obj)
}

func writeFakeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	st := err.Status()
	st.Kind, st.APIVersion = "Status", "v1"
	writeFakeJSON(w, int(st.Code), &st)
}
