package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// Conformance tests of reads and creates, on every backend (see
// conformance_test.go).

func TestClosedStore_RefusesCalls(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.open(t, Options{})
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
	})
}

func TestCreate(t *testing.T) {
	deleted := metav1.NewTime(fixedNow.Add(-time.Hour))
	tests := []struct {
		name    string
		task    func() *v1.Task
		wantErr func(error) bool
		check   func(t *testing.T, b *testStore, got *v1.Task)
	}{
		{
			name: "sets uid, creationTimestamp, generation 1, resourceVersion and type",
			task: func() *v1.Task { return newTask("web") },
			check: func(t *testing.T, b *testStore, got *v1.Task) {
				if got.UID == "" || got.Generation != 1 || got.ResourceVersion != b.rv(1) ||
					!got.CreationTimestamp.Time.Equal(fixedNow) ||
					got.APIVersion != "cubelet/v1" || got.Kind != "Task" {
					t.Errorf("got %+v", got.ObjectMeta)
				}
			},
		},
		{
			name: "keeps a caller-provided uid",
			task: func() *v1.Task { x := newTask("0b1c"); x.UID = "0b1c"; return x },
			check: func(t *testing.T, _ *testStore, got *v1.Task) {
				if got.UID != "0b1c" {
					t.Errorf("uid %q, want 0b1c", got.UID)
				}
			},
		},
		{
			name: "keeps the given status",
			task: func() *v1.Task { return newTask("web") },
			check: func(t *testing.T, _ *testStore, got *v1.Task) {
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
			check: func(t *testing.T, b *testStore, got *v1.Task) {
				if got.DeletionTimestamp != nil || got.Generation != 1 || got.ResourceVersion != b.rv(1) {
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
	forEachBackend(t, func(t *testing.T, be backend) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				b := be.open(t, Options{})
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
				tc.check(t, b, got)
				stored, err := b.Get(context.Background(), got.Name)
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				if !reflect.DeepEqual(stored, got) {
					t.Errorf("Get = %+v\nCreate returned %+v", stored, got)
				}
			})
		}
	})
}

func TestCreate_ExistingName_AlreadyExists(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.open(t, Options{})
		mustCreate(t, b, newTask("web"))
		_, err := b.Create(context.Background(), newTask("web"))
		if !apierrors.IsAlreadyExists(err) {
			t.Fatalf("err %v, want AlreadyExists", err)
		}
		if rev := b.written(t); rev != 1 {
			t.Errorf("failed create spent a revision: %d", rev)
		}
	})
}

func TestGet_Missing_NotFound(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.open(t, Options{})
		if _, err := b.Get(context.Background(), "nope"); !apierrors.IsNotFound(err) {
			t.Fatalf("err %v, want NotFound", err)
		}
	})
}

func TestList_SortedByNameFilteredWithRevision(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.open(t, Options{})
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
				if list.ResourceVersion != b.rv(3) || list.APIVersion != "cubelet/v1" || list.Kind != "TaskList" {
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
	})
}

func TestReturnedObjects_DoNotAliasStoredState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.open(t, Options{})
		ctx := context.Background()
		mustCreate(t, b, newTask("first"))
		w, err := b.Watch(ctx, b.rv(1))
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
		w2, err := b.Watch(ctx, b.rv(1))
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		defer w2.Stop()
		for _, got := range []*v1.Task{mustGet(t, b, "web"), nextEvent(t, w2).Object.(*v1.Task)} {
			if got.Labels["a"] != "1" {
				t.Errorf("stored label changed through a handed-out object: %q", got.Labels["a"])
			}
		}
	})
}

func mustGet(t testing.TB, b Interface, name string) *v1.Task {
	t.Helper()
	got, err := b.Get(context.Background(), name)
	if err != nil {
		t.Fatalf("Get %s: %v", name, err)
	}
	return got
}
