package controller

import (
	"context"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// writerFrom is a store that can commit a write against the cached copy
// it was decided from instead of reading the task first (the etcd store,
// also through its metrics wrapper: store.Etcd.UpdateFrom). A stale copy
// costs the read after all, never a different outcome; on the embedded
// store, whose reads are local, there is nothing to save.
type writerFrom interface {
	UpdateFrom(ctx context.Context, current, task *v1.Task) (*v1.Task, error)
	UpdateStatusFrom(ctx context.Context, current, task *v1.Task) (*v1.Task, error)
}

// updateStatusFrom writes updated's status; cached is the task it was
// decided from.
func (c *Controller) updateStatusFrom(ctx context.Context, cached, updated *v1.Task) (*v1.Task, error) {
	if w, ok := c.store.(writerFrom); ok {
		return w.UpdateStatusFrom(ctx, cached, updated)
	}
	return c.store.UpdateStatus(ctx, updated)
}

// updateFrom writes updated; cached is the task it was made from.
func (c *Controller) updateFrom(ctx context.Context, cached, updated *v1.Task) (*v1.Task, error) {
	if w, ok := c.store.(writerFrom); ok {
		return w.UpdateFrom(ctx, cached, updated)
	}
	return c.store.Update(ctx, updated)
}
