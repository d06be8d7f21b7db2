package handlers

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cubelet/cubelet/apis/cube"
	v1 "github.com/cubelet/cubelet/apis/v1"
)

// find returns the task whose Cube ID is id. A task created through the
// Cube API is named by its ID, so one Get finds it; a task created through
// /v1 is found by its uid in a list, which is fine at one host's scale.
func (a *cubeAPI) find(ctx context.Context, id uuid.UUID) (*v1.Task, error) {
	t, err := a.store.Get(ctx, id.String())
	switch {
	case err == nil:
		if got, _ := cube.IDOf(t); got == id {
			return t, nil
		}
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("getting task %s: %w", id, err)
	}
	list, err := a.store.List(ctx, labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing tasks to find %s: %w", id, err)
	}
	for i := range list.Items {
		if got, _ := cube.IDOf(&list.Items[i]); got == id {
			return &list.Items[i], nil
		}
	}
	return nil, errTaskNotFound(id)
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
