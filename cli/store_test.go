package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
)

// backupSource serves storeBackupPath from a real store, with serve
// deciding what reaches the client.
func backupSource(t *testing.T, serve func(w http.ResponseWriter, st *store.Bolt)) (string, *store.Bolt) {
	t.Helper()
	st, err := store.OpenDir(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, name := range []string{"web", "db"} {
		task := &v1.Task{Spec: v1.TaskSpec{Image: "nginx"}}
		task.Name = name
		if _, err := st.Create(context.Background(), task); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != storeBackupPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		serve(w, st)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, st
}

func TestStoreBackup_WritesAVerifiedCopy0600(t *testing.T) {
	server, st := backupSource(t, func(w http.ResponseWriter, st *store.Bolt) { _, _ = st.Backup(w) })
	path := filepath.Join(t.TempDir(), "backup.db")
	out, err := run(t, server, "", "store", "backup", path)
	if err != nil {
		t.Fatalf("store backup: %v", err)
	}
	if !strings.Contains(out, "backed up 2 tasks") || !strings.Contains(out, st.InstanceID()) {
		t.Errorf("output %q, want the task count and the instance", out)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	if info, err := store.VerifyFile(path); err != nil || info.Tasks != 2 {
		t.Errorf("backup file: %+v %v", info, err)
	}
	// The copy is a store: restoring it is opening it.
	restored, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("open the backup as a store: %v", err)
	}
	defer restored.Close()
	if restored.InstanceID() != st.InstanceID() {
		t.Errorf("restored instance %s, want %s", restored.InstanceID(), st.InstanceID())
	}
}

func TestStoreBackup_BrokenTransfer_LeavesFileAsItWas(t *testing.T) {
	for _, tc := range []struct {
		name  string
		serve func(w http.ResponseWriter, st *store.Bolt)
	}{
		{"cut half way", func(w http.ResponseWriter, st *store.Bolt) {
			_, _ = w.Write(make([]byte, 8192))
			panic(http.ErrAbortHandler)
		}},
		{"complete but not a store", func(w http.ResponseWriter, st *store.Bolt) {
			_, _ = w.Write([]byte(strings.Repeat("not a bbolt file ", 1000)))
		}},
		{"server error", func(w http.ResponseWriter, st *store.Bolt) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"boom","code":500}`))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server, _ := backupSource(t, tc.serve)
			dir := t.TempDir()
			path := filepath.Join(dir, "backup.db")
			if err := os.WriteFile(path, []byte("previous backup"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := run(t, server, "", "store", "backup", path); err == nil {
				t.Fatal("store backup succeeded")
			}
			if data, _ := os.ReadFile(path); string(data) != "previous backup" {
				t.Errorf("existing file changed to %d bytes", len(data))
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("directory holds %d entries, want only the old file (no leftover part file)", len(entries))
			}
		})
	}
}
