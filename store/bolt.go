package store

import (
	"context"
	"fmt"
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
	db   *bolt.DB
	opts Options
	hub  *hub

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
// users' commands and environments. Only one process may have it open.
func Open(path string, opts Options) (*Bolt, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: create data dir: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	var rev int64
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{tasksBucket, metaBucket} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		rev, err = readRevision(tx)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	b := &Bolt{
		db:         db,
		opts:       opts,
		hub:        newHub(opts.WatchWindow, opts.WatchBuffer, rev),
		requests:   make(chan *writeRequest),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	go b.write()
	return b, nil
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
	items := []v1.Task{}
	err = tx.Bucket([]byte(tasksBucket)).ForEach(func(k, data []byte) error {
		t, err := decodeTask(data)
		if err != nil {
			return fmt.Errorf("task %q: %w", k, err)
		}
		if selector.Matches(labels.Set(t.Labels)) {
			items = append(items, *t)
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
	return b.submit(ctx, "update status of", task.Name, updateTaskStatus(task.DeepCopy()))
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
	if resourceVersion == "" || resourceVersion == "0" {
		return b.watchFromSnapshot(ctx)
	}
	rev, err := strconv.ParseInt(resourceVersion, 10, 64)
	if err != nil || rev < 0 {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", resourceVersion))
	}
	w, err := b.hub.register(ctx, rev, nil)
	if err != nil {
		return nil, fmt.Errorf("watch tasks from %d: %w", rev, err)
	}
	return w, nil
}

// watchFromSnapshot reads every task at some revision R and registers a
// watcher for the events after R. The snapshot is read without holding up
// the writer; if more than WatchWindow writes land before the watcher is
// registered, the events after R are gone and it reads again.
func (b *Bolt) watchFromSnapshot(ctx context.Context) (watch.Interface, error) {
	for {
		var rev int64
		var tasks []v1.Task
		err := b.view(ctx, func(tx *bolt.Tx) error {
			var err error
			rev, tasks, err = readTasks(tx, labels.Everything())
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("watch tasks: %w", err)
		}
		initial := make([]event, len(tasks))
		for i := range tasks {
			initial[i] = event{typ: watch.Added, obj: &tasks[i], rev: rev}
		}
		w, err := b.hub.register(ctx, rev, initial)
		if apierrors.IsResourceExpired(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("watch tasks: %w", err)
		}
		return w, nil
	}
}
