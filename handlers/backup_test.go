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
	if resp.ContentLength != int64(len(data)) {
		t.Errorf("Content-Length %d, body %d bytes", resp.ContentLength, len(data))
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

// A backup that fails, even half way, is a 500 Status: the client never
// receives part of a copy.
func TestBackup_Failure_Status500NoPartialCopy(t *testing.T) {
	for _, before := range []int{0, 4096} {
		srv := backupServer(t, failingBackup{before: before})
		resp, err := http.Get(srv.URL + BackupPath)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("failure after %d bytes: code %d type %s, want a 500 Status", before, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if bytes.Contains(data, []byte{1, 1, 1, 1}) {
			t.Errorf("failure after %d bytes: part of the copy was sent", before)
		}
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
