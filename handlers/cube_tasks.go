package handlers

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cubelet/cubelet/apis/cube"
	v1 "github.com/cubelet/cubelet/apis/v1"
)

// cubeWriteAttempts bounds the read-decide-write loop of one request:
// another writer (the v1 API, a second manager request) moving the task
// between our read and our write costs a retry, not an error.
const cubeWriteAttempts = 5

// post applies a TaskEvent: Scheduled runs the task (creating it when its
// ID is new), Completed stops it. 201 with the task as the manager sent
// it, as the book's worker answers: both managers store the answer over
// their own copy, so the stored view (State Pending until the controller
// looked, cubelet's RestartCount before it counted the restart) would
// move the manager's task backwards.
func (a *cubeAPI) post(w http.ResponseWriter, r *http.Request) {
	te, err := decodeTaskEvent(http.MaxBytesReader(w, r.Body, cubeMaxBodyBytes))
	if err != nil {
		writeCubeError(w, a.logger, err)
		return
	}
	node := clusterNodeName(a.store)
	_, err = a.write(r.Context(), te.Task.ID, func(cur *v1.Task) (*v1.Task, error) {
		if cur == nil {
			next, err := planCreate(te)
			return bindToNode(next, node), err
		}
		next, err := planEvent(cur, te)
		if next != nil && cur.Spec.NodeName != "" {
			// A task keeps its binding across the manager's events:
			// moving it is the scheduler's business, not a repost's.
			next.Spec.NodeName = cur.Spec.NodeName
			return next, err
		}
		return bindToNode(next, node), err
	})
	if err != nil {
		writeCubeError(w, a.logger, err)
		return
	}
	writeCubeJSON(w, http.StatusCreated, te.Task)
}

// delete stops a task: desiredState Completed. The object stays, and lists
// as Completed once the controller has stopped the container, as Cube's
// worker lists it. 204 with no body.
func (a *cubeAPI) delete(w http.ResponseWriter, r *http.Request) {
	id, err := parseTaskID(mux.Vars(r)["taskID"])
	if err != nil {
		writeCubeError(w, a.logger, err)
		return
	}
	_, err = a.write(r.Context(), id, func(cur *v1.Task) (*v1.Task, error) {
		if cur == nil {
			return nil, errTaskNotFound(id)
		}
		return planStop(cur)
	})
	if err != nil {
		writeCubeError(w, a.logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// write reads the task with Cube ID id (nil when there is none), asks plan
// for the object to write, and writes it: a create for a new task, an
// update conditional on the resourceVersion read. A lost race is retried
// from the read. It returns the task as stored.
func (a *cubeAPI) write(ctx context.Context, id uuid.UUID, plan func(cur *v1.Task) (*v1.Task, error)) (*v1.Task, error) {
	for range cubeWriteAttempts {
		cur, err := a.find(ctx, id)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		next, err := plan(cur)
		switch {
		case err != nil:
			return nil, err
		case next == nil:
			return cur, nil
		case cur == nil:
			created, err := a.store.Create(ctx, next)
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("creating task %s: %w", id, err)
			}
			return created, nil
		default:
			next.ResourceVersion = cur.ResourceVersion
			updated, err := a.store.Update(ctx, next)
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("updating task %s: %w", id, err)
			}
			return updated, nil
		}
	}
	return nil, cubeError(http.StatusConflict, "task %s kept changing under %d attempts to update it; try again", id, cubeWriteAttempts)
}

// list answers GET /tasks: every task, whichever API created it, as Cube
// Tasks; [] when there are none.
func (a *cubeAPI) list(w http.ResponseWriter, r *http.Request) {
	list, err := a.store.List(r.Context(), labels.Everything())
	if err != nil {
		writeCubeError(w, a.logger, fmt.Errorf("listing tasks: %w", err))
		return
	}
	tasks := make([]cube.Task, 0, len(list.Items))
	for i := range list.Items {
		tasks = append(tasks, cube.FromV1(&list.Items[i]))
	}
	writeCubeJSON(w, http.StatusOK, tasks)
}

// get answers GET /tasks/{taskID} with the Cube Task.
func (a *cubeAPI) get(w http.ResponseWriter, r *http.Request) {
	id, err := parseTaskID(mux.Vars(r)["taskID"])
	if err != nil {
		writeCubeError(w, a.logger, err)
		return
	}
	t, err := a.find(r.Context(), id)
	if err != nil {
		writeCubeError(w, a.logger, err)
		return
	}
	writeCubeJSON(w, http.StatusOK, cube.FromV1(t))
}

// bindToNode binds a task the Cube manager posted to this cubelet to this
// cubelet's node, in a cluster: the manager has already chosen the worker,
// and the scheduler must not send it elsewhere. node "" (a single host)
// leaves it unbound.
func bindToNode(t *v1.Task, node string) *v1.Task {
	if t != nil && node != "" {
		t.Spec.NodeName = node
	}
	return t
}
