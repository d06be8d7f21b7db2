package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

func TestOpen_CreatesDir0700AndFile0600(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "cubelet")
	b, err := OpenDir(dir, Options{})
	if err != nil {
		t.Fatalf("OpenDir: %v", err)
	}
	defer b.Close()
	for _, tc := range []struct {
		path string
		want os.FileMode
	}{
		{dir, 0o700 | os.ModeDir},
		{filepath.Dir(dir), 0o700 | os.ModeDir},
		{filepath.Join(dir, FileName), 0o600},
	} {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatalf("stat %s: %v", tc.path, err)
		}
		if fi.Mode() != tc.want {
			t.Errorf("%s: mode %v, want %v", tc.path, fi.Mode(), tc.want)
		}
	}
}

func TestOpen_FileHeldByAnotherStore_RefusedAtOnce(t *testing.T) {
	_, dir := openTestStore(t, Options{})
	_, err := OpenDir(dir, Options{LockTimeout: 50 * time.Millisecond})
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("second OpenDir of the same file: %v, want a LockedError naming pid %d", err, os.Getpid())
	}
}

func TestReopen_KeepsTasksAndRevision(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenDir(dir, Options{})
	if err != nil {
		t.Fatalf("OpenDir: %v", err)
	}
	ctx := context.Background()
	mustCreate(t, b, newTask("a"))
	last := mustCreate(t, b, newTask("b"))
	if _, err := b.Delete(ctx, "a", ""); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	b, err = OpenDir(dir, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer b.Close()
	if got := b.CurrentRevision(); got != 3 {
		t.Errorf("CurrentRevision after reopen = %d, want 3", got)
	}
	got, err := b.Get(ctx, "b")
	if err != nil {
		t.Fatalf("Get b: %v", err)
	}
	if !reflect.DeepEqual(got, last) {
		t.Errorf("Get after reopen = %+v, want %+v", got, last)
	}
	if _, err := b.Get(ctx, "a"); !apierrors.IsNotFound(err) {
		t.Errorf("Get deleted a: err %v, want NotFound", err)
	}
	c := mustCreate(t, b, newTask("c"))
	if c.ResourceVersion != "4" {
		t.Errorf("first write after reopen has RV %s, want 4", c.ResourceVersion)
	}
}

func TestCreate_NameTooLongForBolt_FailsAlone(t *testing.T) {
	b, _ := openTestStore(t, Options{})
	_, err := b.Create(context.Background(), newTask(strings.Repeat("x", 40000)))
	if !apierrors.IsBadRequest(err) {
		t.Fatalf("err %v, want BadRequest", err)
	}
	if got := mustCreate(t, b, newTask("web")); got.ResourceVersion != "1" {
		t.Errorf("next create rv %s, want 1", got.ResourceVersion)
	}
}
