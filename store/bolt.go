package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// FileName is the database file OpenDir opens in its directory.
const FileName = "cubelet.db"

// Bolt is the embedded Interface: tasks in one bbolt file, written by a
// single goroutine that commits concurrent writes together (see write),
// read by any number of goroutines in bolt read transactions.
type Bolt struct {
	db         *bolt.DB
	lock       *lockFile
	instanceID string
	opts       Options
	hub        *hub

	requests   chan *writeRequest // unbuffered: a request is either taken or refused
	closing    chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

var _ Interface = (*Bolt)(nil)

// OpenDir opens the store kept in dir/cubelet.db, creating dir (0700) and
// the file (0600) when needed.
func OpenDir(dir string, opts Options) (*Bolt, error) {
	return Open(filepath.Join(dir, FileName), opts)
}

// Open opens, or creates, the store in the bbolt file path. Missing parent
// directories are created 0700 and a new file 0600: the store holds the
// users' commands and environments.
//
// Only one process may have it open: a second Open fails at once with a
// *LockedError naming the holder's pid (see lockFile).
//
// A damaged file is refused with an error wrapping a *CorruptError
// (errors.Is(err, ErrCorrupt)) whose text names the file and the remedy.
// Open checks the file's structure before bbolt maps it (checkFile), then
// runs bbolt's consistency check and verifies every record's checksum, so
// that nothing damaged is ever served and no damage makes bbolt panic or
// fault. A store written before checksums (no format key) is rewritten
// with them, in one transaction.
func Open(path string, opts Options) (*Bolt, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: create data dir: %w", err)
	}
	lock, err := acquireLock(path)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	db, id, rev, err := openChecked(path, opts)
	if err != nil {
		_ = lock.release()
		if ce := (*CorruptError)(nil); errors.As(err, &ce) {
			return nil, fmt.Errorf("%w. %s", err, ce.Remedy())
		}
		return nil, err
	}
	b := &Bolt{
		db:         db,
		lock:       lock,
		instanceID: id,
		opts:       opts,
		hub:        newHub(opts.WatchWindow, opts.WatchWindowBytes, opts.WatchBuffer, rev),
		requests:   make(chan *writeRequest),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	b.hub.readLatest = b.readLatest
	go b.write()
	return b, nil
}

// readLatest fills in the data of evs' latest events from the tasks'
// current records, in one read transaction (see event.latest).
func (b *Bolt) readLatest(evs []event) error {
	return b.db.View(func(tx *bolt.Tx) error {
		tasks := tx.Bucket([]byte(tasksBucket))
		for i := range evs {
			if !evs[i].latest {
				continue
			}
			key := []byte(evs[i].name)
			value := tasks.Get(key)
			if value == nil {
				return fmt.Errorf("replay task %q at revision %d: no record", evs[i].name, evs[i].rev)
			}
			payload, err := unseal(tx, tasksBucket, key, value)
			if err != nil {
				return err
			}
			evs[i].data = append([]byte(nil), payload...)
		}
		return nil
	})
}

// InstanceID is the store's identity: a UUID created with the store file
// and kept inside it, never changed. A wiped store (a deleted or emptied
// file, a fresh data dir) is a new file and gets a new ID, so whatever
// the old one owned is never silently adopted.
func (b *Bolt) InstanceID() string {
	return b.instanceID
}

// Path is the store file.
func (b *Bolt) Path() string {
	return b.db.Path()
}

// Backup writes a consistent copy of the whole store file to w, as of one
// read transaction, while reads and writes go on; it returns the bytes
// written. The copy is itself a store file: restore it by stopping
// cubelet and putting it in place of the store's file. Writes that must
// grow the file wait until the copy is done (bbolt cannot remap under a
// reader).
func (b *Bolt) Backup(w io.Writer) (int64, error) {
	var n int64
	err := b.view(context.Background(), func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("back up store %s: %w", b.db.Path(), err)
	}
	return n, nil
}

// Close stops the writer (writes in flight finish first), ends every
// watch and closes the file. Later calls return the first result.
func (b *Bolt) Close() error {
	b.closeOnce.Do(func() {
		close(b.closing)
		<-b.writerDone
		b.hub.close()
		if err := b.db.Close(); err != nil {
			b.closeErr = fmt.Errorf("close store: %w", err)
		}
		// Only now may another process have the file.
		if err := b.lock.release(); err != nil && b.closeErr == nil {
			b.closeErr = fmt.Errorf("close store: release lock: %w", err)
		}
	})
	return b.closeErr
}

// CurrentRevision is the revision of the last write published to
// watchers.
func (b *Bolt) CurrentRevision() int64 {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	return b.hub.window.start + int64(b.hub.window.n)
}

// view runs fn in a read transaction, refusing to start after Close.
func (b *Bolt) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-b.closing:
		return ErrClosed
	default:
	}
	return b.db.View(fn)
}

// Get implements Interface.
func (b *Bolt) Get(ctx context.Context, name string) (*v1.Task, error) {
	var t *v1.Task
	err := b.view(ctx, func(tx *bolt.Tx) error {
		var err error
		t, err = getTask(tx, name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get task %q: %w", name, err)
	}
	if t == nil {
		return nil, notFound(name)
	}
	return t, nil
}

// List implements Interface. Items are sorted by name; a nil selector
// selects everything.
func (b *Bolt) List(ctx context.Context, selector labels.Selector) (*v1.TaskList, error) {
	if selector == nil {
		selector = labels.Everything()
	}
	list := &v1.TaskList{Items: []v1.Task{}}
	list.APIVersion, list.Kind = v1.APIVersion, v1.KindTaskList
	var rev int64
	err := b.view(ctx, func(tx *bolt.Tx) error {
		var err error
		rev, list.Items, err = readTasks(tx, selector)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	list.ResourceVersion = formatRevision(rev)
	return list, nil
}

// readTasks returns the transaction's revision and the tasks selector
// matches, in name order (bolt keeps keys sorted).
func readTasks(tx *bolt.Tx, selector labels.Selector) (int64, []v1.Task, error) {
	rev, err := readRevision(tx)
	if err != nil {
		return 0, nil, err
	}
	tasks := tx.Bucket([]byte(tasksBucket))
	// Decoded in place, into a slice sized once when everything is
	// listed (the informers' start-up): copying each decoded task into a
	// growing slice cost as much memory traffic as decoding it.
	items := []v1.Task{}
	if selector.Empty() {
		items = make([]v1.Task, 0, tasks.Stats().KeyN)
	}
	err = tasks.ForEach(func(k, data []byte) error {
		items = append(items, v1.Task{})
		t := &items[len(items)-1]
		if err := readTaskInto(tx, k, data, t); err != nil {
			return err
		}
		if !selector.Matches(labels.Set(t.Labels)) {
			*t = v1.Task{}
			items = items[:len(items)-1]
		}
		return nil
	})
	return rev, items, err
}

// Create implements Interface. The task keeps a uid it brings (Cube tasks
// are named by theirs) and the status it brings (the API layer sets the
// initial Pending); resourceVersion, generation, creationTimestamp and
// deletionTimestamp are the store's.
func (b *Bolt) Create(ctx context.Context, task *v1.Task) (*v1.Task, error) {
	if task.Name == "" {
		return nil, apierrors.NewBadRequest("create task: metadata.name is required")
	}
	in := task.DeepCopy()
	if in.UID == "" {
		in.UID = types.UID(uuid.NewString())
	}
	return b.submit(ctx, "create", in.Name, createTask(in))
}

// Update implements Interface.
func (b *Bolt) Update(ctx context.Context, task *v1.Task) (*v1.Task, error) {
	return b.submit(ctx, "update", task.Name, updateTask(task.DeepCopy()))
}

// UpdateStatus implements Interface.
func (b *Bolt) UpdateStatus(ctx context.Context, task *v1.Task) (*v1.Task, error) {
	m, splice, err := statusUpdate(task)
	if err != nil {
		return nil, err
	}
	return b.send(ctx, &writeRequest{ctx: ctx, op: "update status of", name: task.Name, mutate: m, splice: splice})
}

// Delete implements Interface.
func (b *Bolt) Delete(ctx context.Context, name string, uid string) (*v1.Task, error) {
	return b.submit(ctx, "delete", name, deleteTask(name, uid))
}

// Watch implements Interface. From "" or "0" it sends an ADDED event per
// task of a consistent snapshot, then every later event; from a revision
// N it replays the retained events after N, then live ones. A revision
// not yet reached is waited for.
func (b *Bolt) Watch(ctx context.Context, resourceVersion string) (watch.Interface, error) {
	return b.watch(ctx, resourceVersion, filter{})
}

// WatchSelected implements Interface.
func (b *Bolt) WatchSelected(ctx context.Context, resourceVersion string, selector labels.Selector) (watch.Interface, error) {
	if selector == nil {
		selector = labels.Everything()
	}
	return b.watch(ctx, resourceVersion, filter{selector: selector, progress: true})
}

func (b *Bolt) watch(ctx context.Context, resourceVersion string, f filter) (watch.Interface, error) {
	if resourceVersion == "" || resourceVersion == "0" {
		return b.watchFromSnapshot(ctx, f)
	}
	rev, err := strconv.ParseInt(resourceVersion, 10, 64)
	if err != nil || rev < 0 {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", resourceVersion))
	}
	w, err := b.hub.register(ctx, rev, nil, f)
	if err != nil {
		return nil, fmt.Errorf("watch tasks from %d: %w", rev, err)
	}
	return w, nil
}

// watchFromSnapshot reads every task at some revision R and registers a
// watcher for the events after R. The snapshot is read without holding up
// the writer; if the window lets go of R before the watcher is
// registered, the events after R are gone and it reads again. A damaged
// record fails the watch: it is not something a retry repairs.
//
// With f.progress the snapshot is followed by a BOOKMARK at R, so the
// consumer learns the revision the snapshot stands for: its objects carry
// the revisions they were last written at, in name order, none of which
// is R in general.
func (b *Bolt) watchFromSnapshot(ctx context.Context, f filter) (watch.Interface, error) {
	selector := f.selector
	if selector == nil {
		selector = labels.Everything()
	}
	for {
		var rev int64
		var tasks []v1.Task
		err := b.view(ctx, func(tx *bolt.Tx) error {
			var err error
			rev, tasks, err = readTasks(tx, selector)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("watch tasks: %w", err)
		}
		initial := make([]event, len(tasks), len(tasks)+1)
		for i := range tasks {
			initial[i] = event{typ: watch.Added, obj: &tasks[i], rev: rev}
		}
		if f.progress {
			initial = append(initial, event{typ: watch.Bookmark, rev: rev})
		}
		w, err := b.hub.register(ctx, rev, initial, f)
		if apierrors.IsResourceExpired(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("watch tasks: %w", err)
		}
		return w, nil
	}
}
