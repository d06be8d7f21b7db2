package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/cubelet/cubelet/runtime"
)

// execute performs one planned action. It is thin on purpose: every choice
// was made by decide; what remains here is what only the engine's answer
// can tell (a name already taken by our own container, a kept host port
// taken meanwhile). It returns the kind actually performed: adopt instead of
// create when the container was there already.
func (c *Controller) execute(ctx context.Context, a action) (actionKind, error) {
	switch a.kind {
	case actionCreate, actionRestart:
		return c.createAndStart(ctx, a)
	case actionStart:
		return a.kind, c.startContainer(ctx, a.container)
	case actionStop:
		if err := c.runtime.StopContainer(ctx, a.container, a.grace); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return a.kind, err
		}
	case actionRemove:
		if err := c.runtime.StopContainer(ctx, a.container, a.grace); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return a.kind, fmt.Errorf("before removal: %w", err)
		}
		if err := c.runtime.RemoveContainer(ctx, a.container); err != nil {
			return a.kind, err
		}
	default:
		return a.kind, fmt.Errorf("unknown action %q", a.kind)
	}
	return a.kind, nil
}

// createAndStart runs one attempt the way `docker run` does: pull per the
// plan's pull mode, create under the attempt's deterministic name, start.
// A name conflict means the container was made before (the cache lagged, or
// cubelet crashed after the create): when its labels say it is this very
// attempt it is adopted, and started only if it never was, so an attempt
// never runs twice. A container of anyone else holding the name is never
// touched.
func (c *Controller) createAndStart(ctx context.Context, a action) (actionKind, error) {
	if a.pull == pullFirst {
		if err := c.puller.pull(ctx, a.spec.Image); err != nil {
			return a.kind, err
		}
	}
	id, err := c.runtime.CreateContainer(ctx, a.spec)
	if errors.Is(err, runtime.ErrNotFound) {
		if a.pull == pullNever {
			return a.kind, &imageError{reason: ReasonErrImageNeverPull,
				err: fmt.Errorf("image %q is not present and imagePullPolicy is Never", a.spec.Image)}
		}
		if err := c.puller.pull(ctx, a.spec.Image); err != nil {
			return a.kind, err
		}
		id, err = c.runtime.CreateContainer(ctx, a.spec)
	}
	switch {
	case errors.Is(err, runtime.ErrNameConflict):
		return c.adopt(ctx, a)
	case errors.Is(err, runtime.ErrNotFound):
		return a.kind, &imageError{reason: ReasonErrImagePull, err: err}
	case err != nil:
		return a.kind, err
	}
	err = c.startContainer(ctx, id)
	if errors.Is(err, runtime.ErrPortAllocated) && a.unpinned != nil {
		// The host port kept from the previous attempt is taken: this
		// attempt, which never ran, makes way for one on a free port.
		if rmErr := c.runtime.RemoveContainer(ctx, id); rmErr != nil {
			return a.kind, errors.Join(err, rmErr)
		}
		retry := a
		retry.spec.Ports, retry.unpinned = a.unpinned, nil
		return c.createAndStart(ctx, retry)
	}
	if err != nil {
		// The container exists; starting it failed (a taken host port, a
		// command the runtime cannot exec): reported as the start it was,
		// so the status says RunContainerError, as kubelet's does.
		return actionStart, err
	}
	return a.kind, nil
}

// adopt takes over the container holding the attempt's name when it is that
// attempt, starting it only if it was never started.
func (c *Controller) adopt(ctx context.Context, a action) (actionKind, error) {
	existing, err := c.runtime.InspectContainer(ctx, a.spec.Name)
	if err != nil {
		return actionAdopt, fmt.Errorf("inspect the container holding name %s: %w", a.spec.Name, err)
	}
	if !sameAttempt(existing.Labels, a.spec.Labels) {
		return a.kind, fmt.Errorf("container name %s is taken by a container this cubelet does not own; it is left alone", a.spec.Name)
	}
	if existing.State == runtime.StateCreated {
		if err := c.startContainer(ctx, existing.ID); err != nil {
			return actionAdopt, err
		}
	}
	return actionAdopt, nil
}

// sameAttempt reports whether a container's labels are exactly the identity
// labels of the attempt we were about to create.
func sameAttempt(have, want map[string]string) bool {
	for _, k := range []string{LabelManaged, LabelInstance, LabelTask, LabelTaskUID, LabelSpecHash, LabelGeneration, LabelAttempt} {
		if have[k] != want[k] {
			return false
		}
	}
	return true
}
