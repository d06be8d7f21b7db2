package controller

import (
	"context"
	"errors"
	"fmt"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
)

// execute performs one planned action. It is thin on purpose: every choice
// was made by decide, except the one the engine forces on a create, a name
// conflict, which is resolved here by adopting our own container.
// It returns the kind actually performed (adopt instead of create) and the
// container it started, if any.
func (c *Controller) execute(ctx context.Context, task *v1.Task, a action) (actionKind, string, error) {
	switch a.kind {
	case actionCreate:
		return c.createAndStart(ctx, task, a)
	case actionStart, actionRestart:
		if err := c.runtime.StartContainer(ctx, a.container); err != nil {
			return a.kind, "", fmt.Errorf("start container %s: %w", a.container, err)
		}
		return a.kind, a.container, nil
	case actionStop:
		if err := c.runtime.StopContainer(ctx, a.container, a.grace); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return a.kind, "", fmt.Errorf("stop container %s: %w", a.container, err)
		}
	case actionRemove:
		if err := c.runtime.StopContainer(ctx, a.container, a.grace); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return a.kind, "", fmt.Errorf("stop container %s before removal: %w", a.container, err)
		}
		if err := c.runtime.RemoveContainer(ctx, a.container); err != nil {
			return a.kind, "", fmt.Errorf("remove container %s: %w", a.container, err)
		}
	default:
		return a.kind, "", fmt.Errorf("unknown action %q", a.kind)
	}
	return a.kind, "", nil
}

// createAndStart creates the container under its deterministic name and
// starts it, pulling the image the way `docker run` does: under
// IfNotPresent only when the create reports it missing (no image lookup on
// the common path), always first under Always, never under Never. The
// container cache lags behind our own writes, so the name may already be
// ours: then adopt it. A managed container of another task incarnation
// holding the name is removed and the create retried; an unmanaged one is
// never touched.
func (c *Controller) createAndStart(ctx context.Context, task *v1.Task, a action) (actionKind, string, error) {
	policy := task.Spec.ImagePullPolicy
	if policy == v1.PullAlways {
		if err := c.puller.pull(ctx, a.spec.Image); err != nil {
			return actionCreate, "", err
		}
	}
	id, err := c.runtime.CreateContainer(ctx, a.spec)
	if errors.Is(err, runtime.ErrNotFound) {
		if policy == v1.PullNever {
			return actionCreate, "", &imageError{reason: ReasonErrImageNeverPull,
				err: fmt.Errorf("image %q is not present and imagePullPolicy is Never", a.spec.Image)}
		}
		if err := c.puller.pull(ctx, a.spec.Image); err != nil {
			return actionCreate, "", err
		}
		id, err = c.runtime.CreateContainer(ctx, a.spec)
	}
	if errors.Is(err, runtime.ErrNameConflict) {
		existing, inspectErr := c.runtime.InspectContainer(ctx, a.spec.Name)
		if inspectErr != nil {
			return actionCreate, "", fmt.Errorf("inspect container %s holding our name: %w", a.spec.Name, inspectErr)
		}
		if ownedBy(existing, a.spec.Labels) {
			if existing.State == runtime.StateCreated {
				if err := c.runtime.StartContainer(ctx, existing.ID); err != nil {
					return actionAdopt, "", fmt.Errorf("start adopted container %s: %w", existing.ID, err)
				}
				return actionAdopt, existing.ID, nil
			}
			return actionAdopt, "", nil
		}
		if existing.Labels[LabelManaged] != managedValue {
			return actionCreate, "", fmt.Errorf("container name %s is taken by a container cubelet does not manage", a.spec.Name)
		}
		if err := c.runtime.StopContainer(ctx, existing.ID, a.grace); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return actionCreate, "", fmt.Errorf("stop stale container %s holding our name: %w", existing.ID, err)
		}
		if err := c.runtime.RemoveContainer(ctx, existing.ID); err != nil {
			return actionCreate, "", fmt.Errorf("remove stale container %s holding our name: %w", existing.ID, err)
		}
		id, err = c.runtime.CreateContainer(ctx, a.spec)
	}
	if errors.Is(err, runtime.ErrNotFound) {
		return actionCreate, "", &imageError{reason: ReasonErrImagePull, err: fmt.Errorf("create container %s: %w", a.spec.Name, err)}
	}
	if err != nil {
		return actionCreate, "", fmt.Errorf("create container %s: %w", a.spec.Name, err)
	}
	if err := c.runtime.StartContainer(ctx, id); err != nil {
		return actionCreate, "", fmt.Errorf("start container %s: %w", id, err)
	}
	return actionCreate, id, nil
}

// ownedBy reports whether a container carries exactly the ownership labels
// of the spec we were about to create.
func ownedBy(c runtime.Container, want map[string]string) bool {
	for _, k := range []string{LabelManaged, LabelTask, LabelTaskUID, LabelSpecHash} {
		if c.Labels[k] != want[k] {
			return false
		}
	}
	return true
}
