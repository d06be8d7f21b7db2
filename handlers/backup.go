package handlers

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/cubelet/cubelet/store"
)

// BackupPath serves a consistent copy of the store file (cubelet store
// backup). It is an API route like any other: behind the same token and
// listener checks, since the copy holds every task's command and
// environment.
const BackupPath = "/v1/store/backup"

// registerBackup adds GET /v1/store/backup when the store can back itself
// up (store.Backuper: the bbolt store, also through WithWriteMetrics).
// The running cubelet holds the store's lock, so a copy can only be made
// through it.
func registerBackup(r *mux.Router, cfg Config) {
	b, ok := cfg.Store.(store.Backuper)
	if !ok {
		return
	}
	h := &backupHandler{store: b, log: cfg.Logger}
	r.Handle(BackupPath, h).Methods(http.MethodGet)
}

type backupHandler struct {
	store store.Backuper
	log   *slog.Logger
}

// ServeHTTP streams the copy as it is read, without buffering the store
// in memory. An error before the first byte is an ordinary Status; after
// it the response is aborted (the connection cut, no final chunk), so a
// client can never take a partial copy for a whole one.
func (h *backupHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out := &countingWriter{w: w}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="cubelet.db"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	n, err := h.store.Backup(out)
	if err == nil {
		h.log.Info("store backup served", "bytes", n, "remote", r.RemoteAddr)
		return
	}
	h.log.Error("store backup failed", "bytes", out.n, "remote", r.RemoteAddr, "err", err)
	if out.n > 0 {
		panic(http.ErrAbortHandler)
	}
	for _, k := range []string{"Content-Disposition", "Cache-Control"} {
		w.Header().Del(k)
	}
	if errors.Is(err, store.ErrClosed) {
		err = apierrors.NewServiceUnavailable("the store is closing")
	}
	writeStatus(w, err)
}

// countingWriter counts what reached the client. An empty write is not
// passed on: it would send the 200 header, and an error right after could
// no longer be a Status.
type countingWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
