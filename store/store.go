// Package store is the durable, watchable home of Task objects. It owns
// resourceVersions (one increasing integer for the whole store, as etcd's
// revision), generations (bumped only when a spec changes), optimistic
// concurrency, graceful deletion through finalizers and the watch window
// (bounded in events and in bytes).
//
// The bbolt store also owns three facts about itself:
//   - its identity: InstanceID, a UUID created with the store file and
//     never changed; a wiped store is a new file and a new instance, so
//     what the old one owned is never adopted by accident;
//   - its integrity: every record carries a checksum checked on each
//     read, and Open checks the file's structure, runs bbolt's
//     consistency check and verifies every record before serving; damage
//     is an ErrCorrupt naming the file and the record, never data;
//   - its holder: one process at a time, a second one refused at once
//     with the holder's pid (ErrLocked).
//
// It must not default or validate specs (the API layer does) nor talk to
// Docker.
package store

import (
	"context"
	"io"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// Interface is what the API layer and the controller need of a task store.
// Errors are apimachinery API errors (apierrors.IsNotFound, IsAlreadyExists,
// IsConflict, IsResourceExpired) so they map straight onto metav1.Status.
// A write neither modifies nor keeps the task it is given, and returns a
// task of the caller's own (TestWrites_LeaveTheCallersTaskAlone).
type Interface interface {
	// Get returns the task named name.
	Get(ctx context.Context, name string) (*v1.Task, error)
	// List returns the tasks matching selector, with the store's
	// resourceVersion at the time of the read.
	List(ctx context.Context, selector labels.Selector) (*v1.TaskList, error)
	// Create stores a new task: it sets uid (unless given),
	// creationTimestamp, generation 1 and resourceVersion, and keeps the
	// given status (the API layer sets the initial Pending).
	Create(ctx context.Context, task *v1.Task) (*v1.Task, error)
	// Update replaces metadata (labels, annotations, finalizers) and spec.
	// A non-empty resourceVersion is a precondition. Generation bumps only
	// when the spec changed; status is kept as stored. When the task is
	// being deleted and has no finalizers left, it is removed.
	Update(ctx context.Context, task *v1.Task) (*v1.Task, error)
	// UpdateStatus replaces only the status; resourceVersion, when set, is
	// a precondition. It never bumps generation.
	UpdateStatus(ctx context.Context, task *v1.Task) (*v1.Task, error)
	// Delete removes a task: at once when it has no finalizers, otherwise
	// by setting deletionTimestamp (the controller removes the finalizer
	// once the containers are gone). A non-empty uid is a precondition.
	// It returns the task as it is after the call.
	Delete(ctx context.Context, name string, uid string) (*v1.Task, error)
	// Watch streams changes after resourceVersion. "" or "0" starts with an
	// ADDED event per existing task. A version older than the retained
	// window fails with a 410 Expired error, so reflectors relist.
	Watch(ctx context.Context, resourceVersion string) (watch.Interface, error)
	// WatchSelected is Watch for the tasks selector matches, as a
	// Kubernetes API server filters a watch: a task that starts to match
	// comes as ADDED, one that stops matching as DELETED (with the object
	// as it is after that write). The stream also carries BOOKMARK events
	// (objects holding only a resourceVersion): one after the initial
	// snapshot of "" or "0", at the snapshot's revision, and one in place
	// of each event the selector filters out. Resuming from the last
	// resourceVersion seen therefore never replays anything older.
	WatchSelected(ctx context.Context, resourceVersion string, selector labels.Selector) (watch.Interface, error)
}

// Backuper is a store that can write a consistent copy of itself while it
// serves (the bbolt store; an etcd cluster has its own snapshots).
type Backuper interface {
	// Backup writes the copy to w and returns the bytes written.
	Backup(w io.Writer) (int64, error)
}
