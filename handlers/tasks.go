package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
)

// taskAPI serves /v1/tasks. It reads and writes specs and metadata; status
// belongs to the controller and passes through untouched.
type taskAPI struct {
	store store.Interface
	logs  LogSource
	log   *slog.Logger
}

// registerV1 adds the declarative Task API.
func registerV1(r *mux.Router, cfg Config) {
	a := &taskAPI{store: cfg.Store, logs: cfg.Logs, log: cfg.Logger}
	// Routes go on r itself, not a PathPrefix subrouter: mux reports a
	// method mismatch inside a subrouter as 404 instead of 405.
	r.HandleFunc("/v1/tasks", a.list).Methods(http.MethodGet)
	r.HandleFunc("/v1/tasks/{name}", a.get).Methods(http.MethodGet)
	r.HandleFunc("/v1/tasks/{name}", a.put).Methods(http.MethodPut)
	r.HandleFunc("/v1/tasks/{name}", a.delete).Methods(http.MethodDelete)
	r.HandleFunc("/v1/tasks/{name}/logs", a.streamLogs).Methods(http.MethodGet)
}

// fail renders err, logging it when it is the server's fault.
func (a *taskAPI) fail(w http.ResponseWriter, r *http.Request, err error) {
	if st := statusOf(err); st.Code >= http.StatusInternalServerError {
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "code", st.Code, "err", err)
	}
	writeStatus(w, err)
}

func (a *taskAPI) get(w http.ResponseWriter, r *http.Request) {
	t, err := a.store.Get(r.Context(), mux.Vars(r)["name"])
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (a *taskAPI) list(w http.ResponseWriter, r *http.Request) {
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		a.fail(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid labelSelector: %v", err)))
		return
	}
	if isWatch, err := boolParam(r, "watch"); err != nil {
		a.fail(w, r, err)
		return
	} else if isWatch {
		a.watch(w, r, sel)
		return
	}
	a.listTasks(w, r, sel)
}

// put creates the task or replaces its spec, labels and annotations.
// Everything that can fail on the input is checked before the one store
// write, so a failed request never leaves a half-written task.
func (a *taskAPI) put(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	in, err := decodeTask(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := admitTask(in, name); err != nil {
		a.fail(w, r, err)
		return
	}
	t, created, err := a.apply(r.Context(), in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	writeJSON(w, code, t)
}

// apply stores in, an admitted task, as a create or an update. A create
// that loses a race with another create is retried once as an update.
func (a *taskAPI) apply(ctx context.Context, in *v1.Task) (*v1.Task, bool, error) {
	for attempt := 0; ; attempt++ {
		cur, err := a.store.Get(ctx, in.Name)
		switch {
		case apierrors.IsNotFound(err):
			t, err := a.create(ctx, in)
			if apierrors.IsAlreadyExists(err) && attempt == 0 {
				continue
			}
			return t, err == nil, err
		case err != nil:
			return nil, false, err
		default:
			t, err := a.update(ctx, cur, in)
			return t, false, err
		}
	}
}

func (a *taskAPI) create(ctx context.Context, in *v1.Task) (*v1.Task, error) {
	if in.ResourceVersion != "" {
		// The precondition names a version of an object that is gone.
		return nil, apierrors.NewConflict(v1.Resource, in.Name,
			fmt.Errorf("resourceVersion %s was given but the task does not exist", in.ResourceVersion))
	}
	return a.store.Create(ctx, &v1.Task{
		TypeMeta: in.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:        in.Name,
			Labels:      in.Labels,
			Annotations: in.Annotations,
			Finalizers:  []string{v1.FinalizerContainers},
		},
		Spec:   in.Spec,
		Status: v1.TaskStatus{State: v1.Pending},
	})
}

// update copies what the user owns (spec, labels, annotations) onto the
// stored object, keeping uid, finalizers and status. A user-given
// resourceVersion is passed on as the store's precondition.
func (a *taskAPI) update(ctx context.Context, cur, in *v1.Task) (*v1.Task, error) {
	if cur.DeletionTimestamp != nil {
		return nil, apierrors.NewConflict(v1.Resource, in.Name, errors.New("the task is being deleted"))
	}
	if in.Spec.NodeName == "" && cur.Spec.NodeName != "" {
		// A binding is the scheduler's (or the user's) decision: a
		// re-apply of a manifest that names no node keeps it, as the
		// Kubernetes scheduler's binding survives a pod's re-apply,
		// instead of unbinding the task and replacing its container.
		in = in.DeepCopy()
		in.Spec.NodeName = cur.Spec.NodeName
	}
	rv := in.ResourceVersion
	if rv != "" && rv != cur.ResourceVersion {
		// Stale on its face: fail without a write. The store checks
		// again below, which closes the window since the Get.
		return nil, apierrors.NewConflict(v1.Resource, in.Name,
			fmt.Errorf("resourceVersion %s is stale; the task is at %s", rv, cur.ResourceVersion))
	}
	if equality.Semantic.DeepEqual(cur.Spec, in.Spec) &&
		equality.Semantic.DeepEqual(cur.Labels, in.Labels) &&
		equality.Semantic.DeepEqual(cur.Annotations, in.Annotations) {
		return cur, nil // the same spec twice changes nothing, not even the RV
	}
	next := cur.DeepCopy()
	next.Spec = in.Spec
	next.Labels = in.Labels
	next.Annotations = in.Annotations
	next.ResourceVersion = rv
	return a.store.Update(ctx, next)
}

func (a *taskAPI) delete(w http.ResponseWriter, r *http.Request) {
	t, err := a.store.Delete(r.Context(), mux.Vars(r)["name"], r.URL.Query().Get("uid"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	code := http.StatusOK
	if t.DeletionTimestamp != nil && len(t.Finalizers) > 0 {
		code = http.StatusAccepted // the controller is still cleaning up
	}
	writeJSON(w, code, t)
}
