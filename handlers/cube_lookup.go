package handlers

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/cubelet/cubelet/apis/cube"
	v1 "github.com/cubelet/cubelet/apis/v1"
)

// find returns the task whose Cube ID is id: the task named by the ID, as
// every task posted through the Cube API is. It is one Get, whatever the
// number of tasks: a scan per lookup let anyone with a random UUID make
// cubelet read its whole store (0.28 s at 5,000 tasks). A /v1 task is
// listed by GET /tasks with its uid as ID but is addressed through /v1;
// one that happens to be named by a UUID other than its uid is not the
// Cube task of that ID, so it is not found either.
func (a *cubeAPI) find(ctx context.Context, id uuid.UUID) (*v1.Task, error) {
	t, err := a.store.Get(ctx, id.String())
	switch {
	case apierrors.IsNotFound(err):
		return nil, errTaskNotFound(id)
	case err != nil:
		return nil, fmt.Errorf("getting task %s: %w", id, err)
	}
	if got, _ := cube.IDOf(t); got != id {
		return nil, errTaskNotFound(id)
	}
	return t, nil
}

func errTaskNotFound(id uuid.UUID) error {
	return cubeError(http.StatusNotFound, "task %s not found", id)
}

// parseTaskID reads the {taskID} of a path. uuid.Parse accepts the forms
// Cube's own worker accepts; anything else is 400, where the book's
// worker went on with the nil UUID.
func parseTaskID(raw string) (uuid.UUID, error) {
	id, err := uuid.Parse(raw)
	if err != nil {
		return uuid.Nil, cubeError(http.StatusBadRequest, "malformed task ID %q: %v", raw, err)
	}
	return id, nil
}
