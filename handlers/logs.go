package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/gorilla/mux"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cubelet/cubelet/runtime"
)

// logChunk is the read size of a log stream; each read is flushed at once.
const logChunk = 32 << 10

// streamLogs copies the output of the task's current container to the
// client as text/plain, flushing every read so `follow` is live. It ends
// when the runtime's reader ends or the client goes away.
func (a *taskAPI) streamLogs(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	var opts runtime.LogOptions
	var err error
	if opts.Follow, err = boolParam(r, "follow"); err != nil {
		a.fail(w, r, err)
		return
	}
	if opts.Timestamps, err = boolParam(r, "timestamps"); err != nil {
		a.fail(w, r, err)
		return
	}
	tail, err := intParam(r, "tail", -1, -1) // -1: all of it
	if err != nil {
		a.fail(w, r, err)
		return
	}
	opts.Tail = int(min(tail, 1<<31-1))
	previous, err := boolParam(r, "previous")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if a.logs == nil {
		a.fail(w, r, apierrors.NewServiceUnavailable("container logs are not available on this server"))
		return
	}
	t, err := a.store.Get(r.Context(), name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	id := t.Status.ContainerID
	if previous {
		// The attempt before the current one, kept stopped until the
		// attempt after it starts (kubectl logs --previous).
		id = t.Status.PreviousContainerID
		if id == "" {
			a.fail(w, r, apierrors.NewBadRequest(fmt.Sprintf("task %s has no previous container", name)))
			return
		}
	}
	if id == "" {
		a.fail(w, r, apierrors.NewBadRequest(fmt.Sprintf("task %s has no container yet", name)))
		return
	}
	ctx := r.Context()
	body, err := a.logs.ContainerLogs(ctx, id, opts)
	if err != nil {
		if errors.Is(err, runtime.ErrNotFound) {
			err = apierrors.NewNotFound(schema.GroupResource{Resource: "containers"}, id)
		}
		a.fail(w, r, err)
		return
	}
	defer body.Close()
	// A follow blocks in Read; closing the reader when the client leaves
	// unblocks it even if the source ignores ctx.
	stop := context.AfterFunc(ctx, func() { _ = body.Close() })
	defer stop()

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	buf := make([]byte, logChunk)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
		if rerr != nil {
			if ctx.Err() == nil && !errors.Is(rerr, io.EOF) {
				a.log.Warn("log stream ended", "task", name, "container", id, "err", rerr)
			}
			return
		}
	}
}
