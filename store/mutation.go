package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// A mutation decides what one write does to one task. It is pure: given
// the stored task (nil when absent), the revision the write would get and
// the time, it returns the outcome or an error. It never touches the
// database, so a failed precondition cannot write anything, and the writer
// can apply many mutations in one transaction.
//
// stored is the caller's own decode of the stored record, made for this
// call (both backends decode it afresh for every attempt): a mutation may
// reuse it for its outcome instead of copying it.
type mutation func(stored *v1.Task, next int64, now time.Time) (outcome, error)

// outcome is the result of a mutation.
type outcome struct {
	// obj is the task as it is after the call, handed to the caller.
	obj *v1.Task
	// event is what was written: Added or Modified (data is stored) or
	// Deleted (the key is removed). Empty means nothing changed.
	event watch.EventType
	// data is obj encoded, for Added and Modified.
	data []byte
}

// unchanged is the outcome of a write that changes nothing: no new
// revision, no watch event.
func unchanged(stored *v1.Task) (outcome, error) {
	return outcome{obj: stored}, nil
}

// written stamps t with revision rev and encodes it.
func written(t *v1.Task, rev int64, event watch.EventType) (outcome, error) {
	t.ResourceVersion = formatRevision(rev)
	data, obj, err := encodeTask(t)
	if err != nil {
		return outcome{}, err
	}
	return outcome{obj: obj, event: event, data: data}, nil
}

// checkPreconditions enforces the optimistic concurrency of Update and
// UpdateStatus: a non-empty resourceVersion or uid must match the stored
// one.
func checkPreconditions(stored, in *v1.Task) error {
	if in.ResourceVersion != "" && in.ResourceVersion != stored.ResourceVersion {
		return staleVersion(in.Name)
	}
	if in.UID != "" && in.UID != stored.UID {
		return uidMismatch(in.Name, in.UID, stored.UID)
	}
	return nil
}

// createTask stores in as a new task. The caller has set in.UID (Cube
// tasks bring their own). Status is kept as given: the API layer sets the
// initial Pending status.
func createTask(in *v1.Task) mutation {
	return func(stored *v1.Task, next int64, now time.Time) (outcome, error) {
		if stored != nil {
			return outcome{}, alreadyExists(in.Name)
		}
		t := in.DeepCopy()
		t.CreationTimestamp = metav1.NewTime(now)
		t.Generation = 1
		t.DeletionTimestamp = nil
		t.DeletionGracePeriodSeconds = nil
		return written(t, next, watch.Added)
	}
}

// updateTask replaces labels, annotations, finalizers and spec. The
// generation counts spec changes only, so the controller can tell "the
// user asked for something new" from metadata edits. An update that
// changes nothing is not written: no revision is spent and watchers are
// not woken. A spec change to a task being deleted is a Conflict: the
// task is on its way out. Removing the last finalizer of a task being deleted removes
// the task, as in Kubernetes.
func updateTask(in *v1.Task) mutation {
	return func(stored *v1.Task, next int64, _ time.Time) (outcome, error) {
		if stored == nil {
			return outcome{}, notFound(in.Name)
		}
		if err := checkPreconditions(stored, in); err != nil {
			return outcome{}, err
		}
		specChanged := !apiequality.Semantic.DeepEqual(stored.Spec, in.Spec)
		metaChanged := !apiequality.Semantic.DeepEqual(stored.Labels, in.Labels) ||
			!apiequality.Semantic.DeepEqual(stored.Annotations, in.Annotations) ||
			!apiequality.Semantic.DeepEqual(stored.Finalizers, in.Finalizers)
		if !specChanged && !metaChanged {
			return unchanged(stored)
		}
		if specChanged && stored.DeletionTimestamp != nil {
			// The controller is tearing the containers down; a new spec
			// would be half applied and then deleted. Metadata (the
			// finalizer the controller releases) may still change.
			return outcome{}, beingDeleted(in.Name)
		}
		given := in.DeepCopy()
		t := stored.DeepCopy()
		t.Labels, t.Annotations, t.Finalizers = given.Labels, given.Annotations, given.Finalizers
		t.Spec = given.Spec
		if specChanged {
			t.Generation++
		}
		if t.DeletionTimestamp != nil && len(t.Finalizers) == 0 {
			return written(t, next, watch.Deleted)
		}
		return written(t, next, watch.Modified)
	}
}

// updateTaskStatus replaces the status alone. It never bumps the
// generation: status is cubelet's observation, not the user's intent. The
// comparison is made on the stored form, so a status that differs only
// below the stored precision (sub-second times) is not written again.
//
// This is the store's hottest write (the controller's), so it avoids the
// decode of the whole task that written does after encoding: stored was
// itself decoded from the store, so everything but the new status is
// already in stored form; only the status makes the round trip through
// JSON (see normalizedStatus). What it returns is still exactly what a
// later Get returns.
func updateTaskStatus(in *v1.Task) mutation {
	return func(stored *v1.Task, next int64, _ time.Time) (outcome, error) {
		status, err := normalizedStatus(in.Name, &in.Status)
		if err != nil {
			return outcome{}, err
		}
		return replaceStatus(stored, in, status, next)
	}
}

// statusUpdate is updateTaskStatus prepared in the caller's goroutine: it
// brings the status to its stored form and encodes the task for a splice
// (see statusSplice) before the write is queued, so that the store's
// single writer neither copies, normalizes nor, usually, decodes. The
// mutation is the fallback when the splice does not apply; it takes of
// task only what it needs (name, preconditions).
func statusUpdate(task *v1.Task) (mutation, *statusSplice, error) {
	status, err := normalizedStatus(task.Name, &task.Status)
	if err != nil {
		return nil, nil, err
	}
	splice, err := newStatusSplice(task, status)
	if err != nil {
		return nil, nil, err
	}
	in := &v1.Task{}
	in.Name, in.ResourceVersion, in.UID = task.Name, task.ResourceVersion, task.UID
	return func(stored *v1.Task, next int64, _ time.Time) (outcome, error) {
		return replaceStatus(stored, in, status, next)
	}, splice, nil
}

// statusSplice is a status write that can be made without decoding the
// stored task: the caller's task, status aside, is encoded once in the
// caller's goroutine (prefix, everything up to the status's value, at the
// caller's resourceVersion), and when the stored record begins with those
// very bytes, everything but the status is what is stored (the metadata,
// resourceVersion and uid included, so the preconditions hold too). The
// writer then compares the status as bytes and writes prefix, the new
// revision spliced in, and the status. Otherwise it decodes, as
// updateTaskStatus does.
//
// The controller's status writes are of this kind: its task comes from the
// informer's cache, decoded from the record it writes over. On the store's
// single writer, the decode was a third of the CPU of a status write and
// two thirds of its allocations (issue 14).
type statusSplice struct {
	obj    *v1.Task // the caller's task with the new status, owned here
	prefix []byte   // obj encoded up to the status's value, at obj's own resourceVersion
	status []byte   // obj.Status encoded
	rv     int64    // obj's resourceVersion as the caller gave it
}

// newStatusSplice prepares the splice of status into task, or returns nil
// when task names no resourceVersion (no record to be compared with).
func newStatusSplice(task *v1.Task, status v1.TaskStatus) (*statusSplice, error) {
	rv, err := strconv.ParseInt(task.ResourceVersion, 10, 64)
	if err != nil || rv <= 0 {
		return nil, nil
	}
	obj := &v1.Task{}
	task.ObjectMeta.DeepCopyInto(&obj.ObjectMeta)
	task.Spec.DeepCopyInto(&obj.Spec)
	obj.APIVersion, obj.Kind = v1.APIVersion, v1.KindTask
	// Encoded with an empty status, the task ends in `"status":{}}`.
	head, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode task %q: %w", task.Name, err)
	}
	const emptyTail = `"status":{}}`
	if !bytes.HasSuffix(head, []byte(emptyTail)) {
		return nil, nil
	}
	body, err := json.Marshal(&status)
	if err != nil {
		return nil, fmt.Errorf("encode status of task %q: %w", task.Name, err)
	}
	obj.Status = status
	return &statusSplice{obj: obj, prefix: head[:len(head)-len(`{}}`)], status: body, rv: rv}, nil
}

// apply writes the status over payload, the stored record, at revision
// next; ok is false when payload differs from the caller's task in more
// than its status.
func (s *statusSplice) apply(payload []byte, next int64) (out outcome, ok bool) {
	if !bytes.HasPrefix(payload, s.prefix) {
		return outcome{}, false
	}
	if rest := payload[len(s.prefix):]; len(rest) == len(s.status)+1 && rest[len(s.status)] == '}' && bytes.Equal(rest[:len(s.status)], s.status) {
		out, _ := unchanged(s.obj)
		return out, true
	}
	// The first resourceVersion in the metadata is the object's own: it
	// precedes labels and annotations, and inside a string a quote is
	// escaped.
	old := []byte(`"resourceVersion":"` + formatRevision(s.rv) + `"`)
	i := bytes.Index(s.prefix, old)
	if i < 0 {
		return outcome{}, false
	}
	rv := formatRevision(next)
	data := make([]byte, 0, len(s.prefix)+len(s.status)+len(rv)+1)
	data = append(data, s.prefix[:i]...)
	data = append(data, `"resourceVersion":"`...)
	data = append(data, rv...)
	data = append(data, '"')
	data = append(data, s.prefix[i+len(old):]...)
	data = append(data, s.status...)
	data = append(data, '}')
	s.obj.ResourceVersion = rv
	return outcome{obj: s.obj, event: watch.Modified, data: data}, true
}

// replaceStatus is the body of a status write: status, already in stored
// form, replaces stored's (in carries the name and the preconditions).
func replaceStatus(stored, in *v1.Task, status v1.TaskStatus, next int64) (outcome, error) {
	if stored == nil {
		return outcome{}, notFound(in.Name)
	}
	if err := checkPreconditions(stored, in); err != nil {
		return outcome{}, err
	}
	if apiequality.Semantic.DeepEqual(status, stored.Status) {
		return unchanged(stored)
	}
	t := stored // this call's own decode: no copy needed
	t.Status = status
	t.ResourceVersion = formatRevision(next)
	t.APIVersion, t.Kind = v1.APIVersion, v1.KindTask
	data, err := json.Marshal(t)
	if err != nil {
		return outcome{}, fmt.Errorf("encode task %q: %w", t.Name, err)
	}
	return outcome{obj: t, event: watch.Modified, data: data}, nil
}

// normalizedStatus returns s as a later read of the store returns it: the
// JSON round trip truncates times to seconds, puts them in the local zone
// and drops empty collections, which are the differences the caller's
// status may have from the stored form. normalizeInPlace does that
// without the round trip (which cost as much as decoding the whole task);
// whatever it cannot vouch for takes the round trip.
func normalizedStatus(name string, s *v1.TaskStatus) (v1.TaskStatus, error) {
	out := *s.DeepCopy()
	if normalizeInPlace(&out) {
		return out, nil
	}
	out = v1.TaskStatus{}
	data, err := json.Marshal(s)
	if err != nil {
		return out, fmt.Errorf("encode status of task %q: %w", name, err)
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return out, fmt.Errorf("decode status of task %q: %w", name, err)
	}
	return out, nil
}

// deleteTask removes a task at once when it has no finalizers; otherwise
// it marks it with a deletionTimestamp, once, and leaves the removal to
// the Update that drops the last finalizer.
func deleteTask(name string, uid string) mutation {
	return func(stored *v1.Task, next int64, now time.Time) (outcome, error) {
		if stored == nil {
			return outcome{}, notFound(name)
		}
		if uid != "" && string(stored.UID) != uid {
			return outcome{}, uidMismatch(name, types.UID(uid), stored.UID)
		}
		if len(stored.Finalizers) == 0 {
			return written(stored.DeepCopy(), next, watch.Deleted)
		}
		if stored.DeletionTimestamp != nil {
			return unchanged(stored)
		}
		t := stored.DeepCopy()
		ts := metav1.NewTime(now)
		t.DeletionTimestamp = &ts
		return written(t, next, watch.Modified)
	}
}
