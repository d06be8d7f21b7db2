package store

import (
	"context"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// A store whose writes go over the network (etcd) can save the read a
// write begins with when the caller already holds the task as last read:
// an informer's cached copy, a scheduler's list. UpdateFrom and
// UpdateStatusFrom take that copy as a guess of what is stored; a stale
// guess costs the read after all, never a different outcome. On a store
// without the shortcut (bbolt reads locally) they are Update and
// UpdateStatus.

// Updater is the write UpdateFrom needs.
type Updater interface {
	Update(ctx context.Context, task *v1.Task) (*v1.Task, error)
}

// StatusUpdater is the write UpdateStatusFrom needs.
type StatusUpdater interface {
	UpdateStatus(ctx context.Context, task *v1.Task) (*v1.Task, error)
}

// UpdateFrom writes task through s, assuming current is what s stores.
func UpdateFrom(ctx context.Context, s Updater, current, task *v1.Task) (*v1.Task, error) {
	if f, ok := s.(interface {
		UpdateFrom(ctx context.Context, current, task *v1.Task) (*v1.Task, error)
	}); ok {
		return f.UpdateFrom(ctx, current, task)
	}
	return s.Update(ctx, task)
}

// UpdateStatusFrom writes task's status through s, assuming current is
// what s stores.
func UpdateStatusFrom(ctx context.Context, s StatusUpdater, current, task *v1.Task) (*v1.Task, error) {
	if f, ok := s.(interface {
		UpdateStatusFrom(ctx context.Context, current, task *v1.Task) (*v1.Task, error)
	}); ok {
		return f.UpdateStatusFrom(ctx, current, task)
	}
	return s.UpdateStatus(ctx, task)
}
