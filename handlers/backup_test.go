package handlers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
)

// backupServer serves registerBackup's route alone over s.
func backupServer(t *testing.T, s store.Interface) *httptest.Server {
	t.Helper()
	r := mux.NewRouter()
	registerBackup(r, Config{Store: s, Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

func TestBackup_ServesAVerifiableCopyOfTheStore(t *testing.T) {
	st, err := store.OpenDir(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	task := &v1.Task{Spec: v1.TaskSpec{Image: "nginx"}}
	task.Name = "web"
	if _, err := st.Create(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	srv := backupServer(t, store.WithWriteMetrics(st, prometheus.NewRegistry()))
	resp, err := http.Get(srv.URL + BackupPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("GET %s: %d %s", BackupPath, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := store.VerifyFile(path)
	if err != nil {
		t.Fatalf("the served copy does not verify: %v", err)
	}
	if info.Tasks != 1 || info.InstanceID != st.InstanceID() {
		t.Errorf("copy holds %+v, want 1 task of instance %s", info, st.InstanceID())
	}
}

// failingBackup writes some bytes, then fails, like a disk error half way.
type failingBackup struct {
	store.Interface
	before int
}

func (f failingBackup) Backup(w io.Writer) (int64, error) {
	n, _ := w.Write(bytes.Repeat([]byte{1}, f.before))
	return int64(n), errors.New("read error")
}

func TestBackup_FailureHalfWay_ClientSeesAnError(t *testing.T) {
	srv := backupServer(t, failingBackup{before: 4096})
	resp, err := http.Get(srv.URL + BackupPath)
	if err != nil {
		return // cut before the header: also an error, as wanted
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Errorf("a backup that failed half way read as complete (code %d)", resp.StatusCode)
	}
}

func TestBackup_FailureBeforeAnyByte_Status500(t *testing.T) {
	srv := backupServer(t, failingBackup{})
	resp, err := http.Get(srv.URL + BackupPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("code %d type %s, want a 500 Status", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestBackup_StoreWithoutBackup_NoRoute(t *testing.T) {
	type plain struct{ store.Interface }
	srv := backupServer(t, plain{})
	resp, err := http.Get(srv.URL + BackupPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("code %d, want 404 when the store cannot back up", resp.StatusCode)
	}
}
