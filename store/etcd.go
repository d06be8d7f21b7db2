package store

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// EtcdOptions configures an Etcd store.
type EtcdOptions struct {
	// Endpoints are the etcd client URLs (http:// or https://).
	Endpoints []string
	// TLS is the client TLS configuration for https endpoints; nil for
	// plain http.
	TLS *tls.Config
	// Prefix is the key prefix of everything this store writes; tasks live
	// under Prefix + "tasks/". Default "/cubelet/". Several cubelet
	// clusters may share one etcd cluster under different prefixes.
	Prefix string
	// NodeName is this cubelet's node name, its instance identity in the
	// cluster (see Etcd.InstanceID). Required: a DNS-1123 subdomain, as a
	// Kubernetes node name.
	NodeName string
	// DialTimeout bounds OpenEtcd's first round trip (a Get), so a wrong
	// endpoint fails cubelet's start instead of hanging it. Default 10s.
	DialTimeout time.Duration
	// WatchBuffer is how many events may wait for one watcher beyond its
	// initial snapshot; a watcher further behind has its result channel
	// closed (as the bbolt store does), so a stalled consumer cannot make
	// the etcd client buffer without bound. Default 1000.
	WatchBuffer int
	// ProgressInterval is how often the store asks etcd for a progress
	// notification while WatchSelected streams are open, so that they
	// carry a BOOKMARK at the current revision even when nothing changes.
	// Default 1 minute, Kubernetes' bookmark period.
	ProgressInterval time.Duration
	// PageSize is how many tasks one List round trip reads; the pages are
	// read at the first page's revision. Default 500, as client-go's
	// pager.
	PageSize int64
	// Logger receives the etcd client's log lines. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock for creation and deletion timestamps. Default
	// time.Now.
	Now func() time.Time
}

func (o EtcdOptions) withDefaults() EtcdOptions {
	if o.Prefix == "" {
		o.Prefix = "/cubelet/"
	}
	if !strings.HasSuffix(o.Prefix, "/") {
		o.Prefix += "/"
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.WatchBuffer <= 0 {
		o.WatchBuffer = 1000
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = time.Minute
	}
	if o.PageSize <= 0 {
		o.PageSize = 500
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Etcd is the Interface on an etcd cluster, for cubelets that share one
// (DESIGN.md, Cluster). Its semantics are the bbolt store's, with etcd's
// own machinery underneath:
//   - resourceVersion is the key's mod revision, and a list's is the
//     revision it was read at: one increasing integer for the whole etcd
//     cluster, so it also moves with writes cubelet did not make (other
//     prefixes, other keys). Only its order is promised, never its steps;
//   - a write reads the task, applies the same pure mutation as the bbolt
//     store (mutation.go) and commits it in a transaction guarded by the
//     mod revision it read; a lost race is retried against the new state,
//     where a resourceVersion precondition then answers 409 Conflict;
//   - Watch is an etcd watch from the revision, so what it can replay is
//     what etcd has not compacted; older is 410 Expired;
//   - values are JSON sealed with the same CRC-32C as bbolt's records,
//     over the key too; a value that fails it is an ErrCorrupt, never a
//     task.
//
// One difference shows: a task removed by an Update that drops its last
// finalizer is deleted from etcd in one revision, so the DELETED event of
// a watch carries the task as last stored (with the finalizer), at the
// deletion's resourceVersion. The Update itself returns the task as it
// is after the call, as with bbolt.
//
// Etcd has no Backup: an etcd cluster is backed up with its own
// snapshots (etcdctl snapshot save).
type Etcd struct {
	client   *clientv3.Client
	opts     EtcdOptions
	tasks    string // key prefix of tasks
	endpoint string // for error messages

	progress *progressRequester

	mu       sync.Mutex
	watchers map[*etcdWatcher]struct{}
	running  sync.WaitGroup // one per watcher goroutine

	closing   chan struct{}
	closeOnce sync.Once
	closeErr  error

	// beforeCommit, when set (tests only), runs between a write's read
	// and its transaction: the window in which another writer can win.
	beforeCommit func(name string)
}

var _ Interface = (*Etcd)(nil)

// OpenEtcd connects to the etcd cluster at opts.Endpoints and checks it
// answers within opts.DialTimeout. The store closes its client on Close.
func OpenEtcd(ctx context.Context, opts EtcdOptions) (*Etcd, error) {
	opts = opts.withDefaults()
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("open etcd store: no endpoints")
	}
	if errs := validation.IsDNS1123Subdomain(opts.NodeName); len(errs) > 0 {
		return nil, fmt.Errorf("open etcd store: node name %q: %s", opts.NodeName, strings.Join(errs, "; "))
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   opts.Endpoints,
		TLS:         opts.TLS,
		DialTimeout: opts.DialTimeout,
		Logger:      zap.New(newSlogCore(opts.Logger.With("component", "etcd-client"))),
		// Without it a client whose connection broke keeps waiting on a
		// dead member for ever; with it gRPC notices within seconds and
		// the balancer moves to another endpoint.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("open etcd store at %s: %w", strings.Join(opts.Endpoints, ","), err)
	}
	e := newEtcd(client, opts)
	// clientv3.New does not wait for a connection: one read does, so a
	// wrong address or certificate fails here and not at the first write.
	checkCtx, cancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer cancel()
	if _, err := client.Get(checkCtx, e.tasks, clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil {
		_ = e.Close() // its progress requester runs already
		return nil, fmt.Errorf("open etcd store at %s: %w", e.endpoint, err)
	}
	return e, nil
}

func newEtcd(client *clientv3.Client, opts EtcdOptions) *Etcd {
	e := &Etcd{
		client:   client,
		opts:     opts,
		tasks:    opts.Prefix + "tasks/",
		endpoint: strings.Join(opts.Endpoints, ","),
		watchers: make(map[*etcdWatcher]struct{}),
		closing:  make(chan struct{}),
	}
	e.progress = newProgressRequester(client, opts.ProgressInterval, e.closing)
	return e
}

// InstanceID is the node name given in EtcdOptions.NodeName. Unlike the
// bbolt store's, this identity belongs to the node, not to the store: the
// store is shared by every node of the cluster, and each cubelet is one
// instance in it, named by its node name (--node-name, default the
// hostname). Its containers carry it, so two cubelets must never share a
// node name; and a host that comes back under the same name is the same
// node, which is what lets it find its own containers again.
func (e *Etcd) InstanceID() string {
	return e.opts.NodeName
}

// Close ends every watch and closes the etcd client. Later calls return
// the first result.
func (e *Etcd) Close() error {
	e.closeOnce.Do(func() {
		close(e.closing)
		e.mu.Lock()
		for w := range e.watchers {
			w.halt()
		}
		e.mu.Unlock()
		e.running.Wait()
		e.progress.wait()
		if err := e.client.Close(); err != nil && !errors.Is(err, context.Canceled) {
			e.closeErr = fmt.Errorf("close etcd store: %w", err)
		}
	})
	return e.closeErr
}

// CurrentRevision is the etcd cluster's revision now (one read).
func (e *Etcd) CurrentRevision(ctx context.Context) (int64, error) {
	if err := e.usable(ctx); err != nil {
		return 0, err
	}
	resp, err := e.client.Get(ctx, e.tasks, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("read etcd revision: %w", err)
	}
	return resp.Header.Revision, nil
}

// usable refuses calls after Close or with a finished context.
func (e *Etcd) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-e.closing:
		return ErrClosed
	default:
		return nil
	}
}

func (e *Etcd) key(name string) string {
	return e.tasks + name
}

// Get implements Interface.
func (e *Etcd) Get(ctx context.Context, name string) (*v1.Task, error) {
	if err := e.usable(ctx); err != nil {
		return nil, fmt.Errorf("get task %q: %w", name, err)
	}
	if err := checkName("get", name); err != nil {
		return nil, err
	}
	resp, err := e.client.Get(ctx, e.key(name))
	if err != nil {
		return nil, fmt.Errorf("get task %q: %w", name, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, notFound(name)
	}
	t, err := e.decode(resp.Kvs[0])
	if err != nil {
		return nil, fmt.Errorf("get task %q: %w", name, err)
	}
	return t, nil
}

// List implements Interface. Items are sorted by name (etcd sorts keys);
// a nil selector selects everything. The tasks are read in pages of
// PageSize, all at the first page's revision, so the list is one
// consistent snapshot and its resourceVersion is that revision. A
// compaction between two pages starts the list over.
func (e *Etcd) List(ctx context.Context, selector labels.Selector) (*v1.TaskList, error) {
	if selector == nil {
		selector = labels.Everything()
	}
	if err := e.usable(ctx); err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	for {
		rev, items, err := e.listAt(ctx, 0, selector)
		if errors.Is(err, rpctypes.ErrCompacted) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list tasks: %w", err)
		}
		list := &v1.TaskList{Items: items}
		list.APIVersion, list.Kind = v1.APIVersion, v1.KindTaskList
		list.ResourceVersion = formatRevision(rev)
		return list, nil
	}
}

// listAt reads the tasks selector matches at revision rev (0: now) and
// returns the revision read.
func (e *Etcd) listAt(ctx context.Context, rev int64, selector labels.Selector) (int64, []v1.Task, error) {
	items := []v1.Task{}
	from, end := e.tasks, clientv3.GetPrefixRangeEnd(e.tasks)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(e.opts.PageSize)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := e.client.Get(ctx, from, opts...)
		if err != nil {
			return 0, nil, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			t, err := e.decode(kv)
			if err != nil {
				return 0, nil, err
			}
			if selector.Matches(labels.Set(t.Labels)) {
				items = append(items, *t)
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, items, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Create implements Interface, as Bolt.Create.
func (e *Etcd) Create(ctx context.Context, task *v1.Task) (*v1.Task, error) {
	if task.Name == "" {
		return nil, apierrors.NewBadRequest("create task: metadata.name is required")
	}
	in := task.DeepCopy()
	if in.UID == "" {
		in.UID = types.UID(uuid.NewString())
	}
	return e.write(ctx, "create", in.Name, createTask(in))
}

// Update implements Interface.
func (e *Etcd) Update(ctx context.Context, task *v1.Task) (*v1.Task, error) {
	return e.write(ctx, "update", task.Name, updateTask(task.DeepCopy()))
}

// UpdateFrom is Update of task, assuming current (the task as last read,
// at its resourceVersion) is still what is stored: the first attempt
// commits against current's mod revision without reading the key, saving
// a round trip and a decode, and reads only when that guess was wrong
// (Kubernetes' GuaranteedUpdate with a cached existing object). The
// outcome is Update's: the same mutation, the same preconditions, the
// same answers.
func (e *Etcd) UpdateFrom(ctx context.Context, current, task *v1.Task) (*v1.Task, error) {
	rev, err := parseRevision(current.ResourceVersion)
	if err != nil || rev <= 0 || current.Name != task.Name {
		return e.Update(ctx, task)
	}
	return e.writeFrom(ctx, "update", task.Name, updateTask(task.DeepCopy()), current.DeepCopy(), rev)
}

// UpdateStatusFrom is UpdateStatus of task assuming current is what is
// stored, as UpdateFrom.
func (e *Etcd) UpdateStatusFrom(ctx context.Context, current, task *v1.Task) (*v1.Task, error) {
	rev, err := parseRevision(current.ResourceVersion)
	if err != nil || rev <= 0 || current.Name != task.Name {
		return e.UpdateStatus(ctx, task)
	}
	return e.writeFrom(ctx, "update status of", task.Name, updateTaskStatus(task.DeepCopy()), current.DeepCopy(), rev)
}

// UpdateStatus implements Interface.
func (e *Etcd) UpdateStatus(ctx context.Context, task *v1.Task) (*v1.Task, error) {
	return e.write(ctx, "update status of", task.Name, updateTaskStatus(task.DeepCopy()))
}

// Delete implements Interface.
func (e *Etcd) Delete(ctx context.Context, name string, uid string) (*v1.Task, error) {
	return e.write(ctx, "delete", name, deleteTask(name, uid))
}

// write is etcd's optimistic concurrency, as Kubernetes' GuaranteedUpdate:
// read the task and its mod revision, apply m, and commit only if the key
// still has that mod revision (mod revision 0: still absent). When another
// writer got there first the transaction returns the key as it is now and
// m runs again on it, so a caller's resourceVersion precondition is
// checked against the newest state (and answers 409), while a write
// without one applies to the newest state as bbolt's writer would.
//
// The stored JSON carries no resourceVersion: it is the mod revision,
// known only once etcd commits, and set on every decode.
func (e *Etcd) write(ctx context.Context, op, name string, m mutation) (*v1.Task, error) {
	return e.writeFrom(ctx, op, name, m, nil, 0)
}

// writeFrom is write whose first attempt takes guess, stored at mod
// revision guessRev, as the stored task instead of reading it (nil: read).
func (e *Etcd) writeFrom(ctx context.Context, op, name string, m mutation, guess *v1.Task, guessRev int64) (*v1.Task, error) {
	if err := e.usable(ctx); err != nil {
		return nil, fmt.Errorf("%s task %q: %w", op, name, err)
	}
	if err := checkName(op, name); err != nil {
		return nil, err
	}
	key := e.key(name)
	var kvs []*mvccpb.KeyValue
	if guess == nil {
		resp, err := e.client.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("%s task %q: %w", op, name, err)
		}
		kvs = resp.Kvs
	}
	for {
		var stored *v1.Task
		var modRev int64
		var err error
		fromGuess := guess != nil
		switch {
		case fromGuess:
			stored, modRev, guess = guess, guessRev, nil
		case len(kvs) > 0:
			if stored, err = e.decode(kvs[0]); err != nil {
				return nil, fmt.Errorf("%s task %q: %w", op, name, err)
			}
			modRev = kvs[0].ModRevision
		}
		out, err := m(stored, 0, e.opts.Now())
		if err != nil {
			return nil, err
		}
		if out.event == "" && fromGuess {
			// Nothing to write, judged on the guess: answer from what
			// is stored, as a plain write would.
			resp, err := e.client.Get(ctx, key)
			if err != nil {
				return nil, fmt.Errorf("%s task %q: %w", op, name, err)
			}
			kvs = resp.Kvs
			continue
		}
		if out.event == "" {
			return out.obj, nil
		}
		var then clientv3.Op
		if out.event == watch.Deleted {
			then = clientv3.OpDelete(key)
		} else {
			value, err := e.encode(key, out.obj)
			if err != nil {
				return nil, fmt.Errorf("%s task %q: %w", op, name, err)
			}
			then = clientv3.OpPut(key, string(value))
		}
		if e.beforeCommit != nil {
			e.beforeCommit(name)
		}
		txn, err := e.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
			Then(then).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return nil, fmt.Errorf("%s task %q: commit: %w", op, name, err)
		}
		if txn.Succeeded {
			out.obj.ResourceVersion = formatRevision(txn.Header.Revision)
			return out.obj, nil
		}
		kvs = txn.Responses[0].GetResponseRange().Kvs
	}
}

// checkName refuses names that would leave the task prefix or that etcd
// would refuse as a key, before any round trip.
func checkName(op, name string) error {
	const maxName = 4096
	if name == "" || len(name) > maxName || strings.ContainsAny(name, "/\x00") {
		return apierrors.NewBadRequest(fmt.Sprintf("%s task: name must be 1 to %d bytes without '/'", op, maxName))
	}
	return nil
}

// encode seals t (its resourceVersion left out) for key, with the
// checksum of the bbolt store's records.
func (e *Etcd) encode(key string, t *v1.Task) ([]byte, error) {
	c := *t
	c.ResourceVersion = ""
	payload, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encode task: %w", err)
	}
	return seal([]byte(key), payload), nil
}

// decode checks and decodes a stored task; its resourceVersion is the
// key's mod revision. Damage (a checksum mismatch, JSON that does not
// decode, a task whose name is not its key's) is a *CorruptError naming
// the key.
func (e *Etcd) decode(kv *mvccpb.KeyValue) (*v1.Task, error) {
	t, err := e.decodeValue(kv.Key, kv.Value)
	if err != nil {
		return nil, err
	}
	t.ResourceVersion = formatRevision(kv.ModRevision)
	return t, nil
}

func (e *Etcd) decodeValue(key, value []byte) (*v1.Task, error) {
	corrupt := func(err error) error {
		return &CorruptError{Path: "etcd " + e.endpoint, Where: fmt.Sprintf("record %q", key), Err: err}
	}
	if len(value) < checksumSize {
		return nil, corrupt(fmt.Errorf("value of %d bytes is shorter than its checksum", len(value)))
	}
	payload := value[checksumSize:]
	if want, got := binary.BigEndian.Uint32(value), checksum(key, payload); want != got {
		return nil, corrupt(fmt.Errorf("checksum mismatch (stored %08x, computed %08x)", want, got))
	}
	t, err := decodeTask(payload)
	if err != nil {
		return nil, corrupt(err)
	}
	if name := strings.TrimPrefix(string(key), e.tasks); t.Name != name {
		return nil, corrupt(fmt.Errorf("holds task %q", t.Name))
	}
	return t, nil
}

// parseRevision parses a resourceVersion given to Watch.
func parseRevision(resourceVersion string) (int64, error) {
	rev, err := strconv.ParseInt(resourceVersion, 10, 64)
	if err != nil || rev < 0 {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", resourceVersion))
	}
	return rev, nil
}

var _ Streamer = (*Etcd)(nil)

// ListStream implements Streamer, with the bbolt store's continue tokens
// and etcd's paging underneath: every page, of this call and of the calls
// that continue it, is read at the first page's revision, so a paged list
// is one snapshot (stronger than bbolt's, which can only promise each
// task once). A token whose revision etcd has compacted answers 410
// Expired and the client starts a new list, as from the Kubernetes API
// server; one from the future is 400. each runs between etcd reads.
func (e *Etcd) ListStream(ctx context.Context, opts ListOptions, each func(*v1.Task) error) (ListMeta, error) {
	selector := opts.Selector
	if selector == nil {
		selector = labels.Everything()
	}
	if opts.Limit < 0 {
		return ListMeta{}, apierrors.NewBadRequest(fmt.Sprintf("invalid limit %d", opts.Limit))
	}
	if err := e.usable(ctx); err != nil {
		return ListMeta{}, fmt.Errorf("list tasks: %w", err)
	}
	var rev int64
	from, end := e.tasks, clientv3.GetPrefixRangeEnd(e.tasks)
	if opts.Continue != "" {
		c, err := decodeContinue(opts.Continue)
		if err != nil {
			return ListMeta{}, err
		}
		rev, from = c.RV, e.tasks+c.Start
	}
	left := opts.Limit
	for {
		getOpts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(e.opts.PageSize)}
		if rev != 0 {
			getOpts = append(getOpts, clientv3.WithRev(rev))
		}
		resp, err := e.client.Get(ctx, from, getOpts...)
		switch {
		case errors.Is(err, rpctypes.ErrCompacted):
			return ListMeta{}, apierrors.NewResourceExpired(fmt.Sprintf("the list at revision %d was compacted away: start a new list", rev))
		case errors.Is(err, rpctypes.ErrFutureRev):
			return ListMeta{}, apierrors.NewBadRequest(fmt.Sprintf("invalid continue token: revision %d is in the future", rev))
		case err != nil:
			return ListMeta{}, fmt.Errorf("list tasks: %w", err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		meta := ListMeta{ResourceVersion: formatRevision(rev)}
		for i, kv := range resp.Kvs {
			if opts.Limit > 0 && left == 0 {
				meta.Continue = encodeContinue(rev, strings.TrimPrefix(string(kv.Key), e.tasks))
				return meta, nil
			}
			t, err := e.decode(kv)
			if err != nil {
				return ListMeta{}, fmt.Errorf("list tasks: %w", err)
			}
			if !selector.Matches(labels.Set(t.Labels)) {
				continue
			}
			if err := each(t); err != nil {
				return ListMeta{}, err
			}
			left--
			if opts.Limit > 0 && left == 0 && i == len(resp.Kvs)-1 && resp.More {
				// The next key is in the next page: resume just after
				// this one.
				meta.Continue = encodeContinue(rev, strings.TrimPrefix(string(kv.Key), e.tasks)+"\x00")
				return meta, nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return meta, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
