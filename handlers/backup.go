package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

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
	b, ok := store.As[store.Backuper](cfg.Store)
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

// ServeHTTP copies the store to an unlinked temporary file first, then
// serves that file with its length. The copy's read transaction thus
// lasts as long as a local disk write, not as long as the client takes to
// download: bbolt cannot grow its file under a reader, so a slow client
// reading straight from the transaction would stall every write that
// needs more space. The Content-Length lets the client tell a cut
// transfer from a whole one. The file is 0600 and unlinked at once: it
// holds every task's command and environment.
func (h *backupHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, err := os.CreateTemp("", "cubelet-backup-*")
	if err != nil {
		h.fail(w, r, fmt.Errorf("back up store: temporary file: %w", err))
		return
	}
	_ = os.Remove(f.Name())
	defer f.Close()
	start := time.Now()
	n, err := h.store.Backup(f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := f.Seek(0, 0); err != nil {
		h.fail(w, r, fmt.Errorf("back up store: rewind temporary file: %w", err))
		return
	}
	h.log.Info("store backup copied", "bytes", n, "duration", time.Since(start), "remote", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="cubelet.db"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// ServeContent sets Content-Length and answers Range requests, so an
	// interrupted download of a large store can be resumed.
	http.ServeContent(w, r, "", start, f)
}

func (h *backupHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Error("store backup failed", "remote", r.RemoteAddr, "err", err)
	if errors.Is(err, store.ErrClosed) {
		err = apierrors.NewServiceUnavailable("the store is closing")
	}
	writeStatus(w, err)
}
