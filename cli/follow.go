package cli

import (
	"context"
	"errors"
	"io"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"
)

// reconnectDelay spaces out reconnects of a watch that ended without
// delivering anything, so a server that keeps closing streams is not
// hammered.
const reconnectDelay = time.Second

// followTasks calls handle for every event after resourceVersion rv until
// handle returns done or an error, or ctx ends (then it returns ctx.Err()).
// A stream the server ends cleanly is reopened from the last revision seen,
// as client-go's reflector does; bookmarks only move that revision on. When
// the server no longer holds the history from there (410 Expired, as an
// answer or as an ERROR event), it returns an error for which
// apierrors.IsResourceExpired holds: the caller lists again.
func followTasks(ctx context.Context, c *Client, selector, rv string, handle func(Event) (done bool, err error)) error {
	for {
		w, err := c.Watch(ctx, selector, rv)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		got, done, err := drain(w, &rv, handle)
		_ = w.Close()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case done || err != nil:
			return err
		case got == 0:
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(reconnectDelay):
			}
		}
	}
}

// drain reads one stream until it ends, advancing *rv. It returns how many
// events it read, and handle's verdict.
func drain(w *Watcher, rv *string, handle func(Event) (bool, error)) (int, bool, error) {
	for n := 0; ; n++ {
		ev, err := w.Next()
		if errors.Is(err, io.EOF) {
			return n, false, nil
		}
		if err != nil {
			return n, false, err
		}
		if ev.Type == watch.Error {
			return n, false, &ServerError{ErrStatus: *ev.Status}
		}
		if ev.ResourceVersion != "" {
			*rv = ev.ResourceVersion
		}
		if ev.Type == watch.Bookmark {
			continue
		}
		if done, err := handle(ev); done || err != nil {
			return n, done, err
		}
	}
}

// isExpired reports whether err says the watch history is gone.
func isExpired(err error) bool {
	return apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
}
