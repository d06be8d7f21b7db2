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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/cubelet/cubelet/apis/v1"
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

func TestClosedStore_RefusesCalls(t *testing.T) {
	b, err := OpenDir(t.TempDir(), Options{})
	if err != nil {
		t.Fatalf("OpenDir: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	if _, err := b.Create(ctx, newTask("a")); !errors.Is(err, ErrClosed) {
		t.Errorf("Create after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Get(ctx, "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Watch(ctx, "0"); !errors.Is(err, ErrClosed) {
		t.Errorf("Watch after Close: %v, want ErrClosed", err)
	}
}

func TestCreate(t *testing.T) {
	deleted := metav1.NewTime(fixedNow.Add(-time.Hour))
	tests := []struct {
		name    string
		task    func() *v1.Task
		wantErr func(error) bool
		check   func(t *testing.T, got *v1.Task)
	}{
		{
			name: "sets uid, creationTimestamp, generation 1, resourceVersion and type",
			task: func() *v1.Task { return newTask("web") },
			check: func(t *testing.T, got *v1.Task) {
				if got.UID == "" || got.Generation != 1 || got.ResourceVersion != "1" ||
					!got.CreationTimestamp.Time.Equal(fixedNow) ||
					got.APIVersion != "cubelet/v1" || got.Kind != "Task" {
					t.Errorf("got %+v", got.ObjectMeta)
				}
			},
		},
		{
			name: "keeps a caller-provided uid",
			task: func() *v1.Task { x := newTask("0b1c"); x.UID = "0b1c"; return x },
			check: func(t *testing.T, got *v1.Task) {
				if got.UID != "0b1c" {
					t.Errorf("uid %q, want 0b1c", got.UID)
				}
			},
		},
		{
			name: "keeps the given status",
			task: func() *v1.Task { return newTask("web") },
			check: func(t *testing.T, got *v1.Task) {
				if got.Status.State != v1.Pending {
					t.Errorf("status %q, want Pending", got.Status.State)
				}
			},
		},
		{
			name: "clears deletionTimestamp and ignores given generation and resourceVersion",
			task: func() *v1.Task {
				x := newTask("web")
				x.DeletionTimestamp, x.Generation, x.ResourceVersion = &deleted, 7, "99"
				return x
			},
			check: func(t *testing.T, got *v1.Task) {
				if got.DeletionTimestamp != nil || got.Generation != 1 || got.ResourceVersion != "1" {
					t.Errorf("got %+v", got.ObjectMeta)
				}
			},
		},
		{
			name:    "empty name is a bad request",
			task:    func() *v1.Task { return newTask("") },
			wantErr: apierrors.IsBadRequest,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := openTestStore(t, Options{})
			got, err := b.Create(context.Background(), tc.task())
			if tc.wantErr != nil {
				if !tc.wantErr(err) {
					t.Fatalf("err %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			tc.check(t, got)
			stored, err := b.Get(context.Background(), got.Name)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !reflect.DeepEqual(stored, got) {
				t.Errorf("Get = %+v\nCreate returned %+v", stored, got)
			}
		})
	}
}

func TestCreate_ExistingName_AlreadyExists(t *testing.T) {
	b, _ := openTestStore(t, Options{})
	mustCreate(t, b, newTask("web"))
	_, err := b.Create(context.Background(), newTask("web"))
	if !apierrors.IsAlreadyExists(err) {
		t.Fatalf("err %v, want AlreadyExists", err)
	}
	if rev := b.CurrentRevision(); rev != 1 {
		t.Errorf("failed create spent a revision: %d", rev)
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

func TestGet_Missing_NotFound(t *testing.T) {
	b, _ := openTestStore(t, Options{})
	if _, err := b.Get(context.Background(), "nope"); !apierrors.IsNotFound(err) {
		t.Fatalf("err %v, want NotFound", err)
	}
}

func TestList_SortedByNameFilteredWithRevision(t *testing.T) {
	b, _ := openTestStore(t, Options{})
	for _, name := range []string{"c", "a", "b"} {
		x := newTask(name)
		x.Labels = map[string]string{"tier": "web"}
		if name == "b" {
			x.Labels["tier"] = "db"
		}
		mustCreate(t, b, x)
	}
	tests := []struct {
		name     string
		selector labels.Selector
		want     []string
	}{
		{"nil selector lists all", nil, []string{"a", "b", "c"}},
		{"everything", labels.Everything(), []string{"a", "b", "c"}},
		{"equality", labels.SelectorFromSet(labels.Set{"tier": "web"}), []string{"a", "c"}},
		{"no match", labels.SelectorFromSet(labels.Set{"tier": "cache"}), []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list, err := b.List(context.Background(), tc.selector)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if list.ResourceVersion != "3" || list.APIVersion != "cubelet/v1" || list.Kind != "TaskList" {
				t.Errorf("list meta %+v %+v", list.TypeMeta, list.ListMeta)
			}
			names := []string{}
			for _, it := range list.Items {
				names = append(names, it.Name)
				if it.Kind != "Task" || it.APIVersion != "cubelet/v1" {
					t.Errorf("item %s type %+v", it.Name, it.TypeMeta)
				}
			}
			if !reflect.DeepEqual(names, tc.want) {
				t.Errorf("names %v, want %v", names, tc.want)
			}
		})
	}
}

func TestReturnedObjects_DoNotAliasStoredState(t *testing.T) {
	b, _ := openTestStore(t, Options{})
	ctx := context.Background()
	mustCreate(t, b, newTask("first"))
	w, err := b.Watch(ctx, "1")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer w.Stop()
	in := newTask("web")
	in.Labels = map[string]string{"a": "1"}
	created := mustCreate(t, b, in)
	ev := nextEvent(t, w)

	in.Labels["a"] = "caller"
	created.Labels["a"] = "returned"
	ev.Object.(*v1.Task).Labels["a"] = "watched"

	// A replay from the window, which holds the published object.
	w2, err := b.Watch(ctx, "1")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer w2.Stop()
	for _, got := range []*v1.Task{mustGet(t, b, "web"), nextEvent(t, w2).Object.(*v1.Task)} {
		if got.Labels["a"] != "1" {
			t.Errorf("stored label changed through a handed-out object: %q", got.Labels["a"])
		}
	}
}

func mustGet(t testing.TB, b *Bolt, name string) *v1.Task {
	t.Helper()
	got, err := b.Get(context.Background(), name)
	if err != nil {
		t.Fatalf("Get %s: %v", name, err)
	}
	return got
}
