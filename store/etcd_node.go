package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// DefaultNodeLeaseTTL is the lease a node's liveness key lives on: a
// cubelet that stops renewing it is NotReady this long after its last
// renewal. The node renews it every tenth of the TTL (keepAlive).
const DefaultNodeLeaseTTL = 5 * time.Second

// NodeLeaseSafetyMargin is how long before its computed expiry a node
// stops considering its lease held (NodeLease.Held). A renewal is timed
// when its request was sent, before etcd's leader restarted the TTL, so
// the lease cannot expire on the server before lastAck+TTL by etcd's
// clock; the margin covers this process's own lateness (a GC pause, a
// timer fired late, a slow scheduler on a loaded host) and clock rate
// differences. 500 ms is far above those delays, yet small against the
// 5 s TTL; being early only costs
// a node that was about to renew anyway a needless fence, being late could
// leave its containers running after the leader moved them.
const NodeLeaseSafetyMargin = 500 * time.Millisecond

// NodeRegistration is what a cubelet tells the cluster about itself.
type NodeRegistration struct {
	Labels   map[string]string
	Capacity map[string]resource.Quantity
	// TTL of the liveness lease; default DefaultNodeLeaseTTL, at least 2s
	// (etcd's minimum lease is a few seconds anyway).
	TTL time.Duration
	// Metrics, when set, receives cubelet_node_lease_renewals_total,
	// cubelet_node_lease_failures_total{reason} and cubelet_node_lease_held.
	Metrics prometheus.Registerer
}

// A node is two keys under the prefix:
//   - nodes/<name>: the Node as registered (labels, capacity, spec), a
//     plain key that outlives the cubelet, so a lost node is still listed;
//   - nodeleases/<name>: attached to the node's etcd lease, deleted by
//     etcd when the cubelet stops renewing it.
//
// Ready is read, not written: a node is Ready exactly while its lease key
// exists. No leader has to notice a death and write it down, so a node's
// readiness is never staler than etcd's own lease expiry.
func (e *Etcd) nodeKey(name string) string  { return e.opts.Prefix + "nodes/" + name }
func (e *Etcd) leaseKey(name string) string { return e.opts.Prefix + "nodeleases/" + name }

// Client is the etcd client the store uses, for the cluster's other users
// of etcd (the scheduler's election) to share its connection.
func (e *Etcd) Client() *clientv3.Client { return e.client }

// Prefix is the store's key prefix.
func (e *Etcd) Prefix() string { return e.opts.Prefix }

// NodeLease keeps this cubelet's node registered; Stop ends it.
//
// It also tells whether this node may still consider its lease held
// (Held), which fencing acts on: etcd's leader decides when a lease
// expires, and a node cut off from etcd learns nothing, so it keeps its
// own count from the last renewal it saw acknowledged.
type NodeLease struct {
	cancel  context.CancelFunc
	done    chan struct{}
	metrics *leaseMetrics

	mu    sync.Mutex
	lease clientv3.LeaseID
	// deadline is lastAck + TTL − NodeLeaseSafetyMargin of the current
	// lease: Held is false from then on until the next acknowledgement.
	deadline time.Time
	held     bool
	stopped  bool
	// leave: the stop revokes the lease (Leave) rather than letting it
	// expire (Stop).
	leave bool
	// changed is closed, and replaced, whenever held changes.
	changed chan struct{}
	// expiry fires at deadline even when no keep-alive response ever
	// arrives again (etcd unreachable: the client's channel just stays
	// silent until its own, later, timeout).
	expiry *time.Timer
}

// Held reports whether this node may consider its lease held: true from
// a registration until lastAck + TTL − NodeLeaseSafetyMargin, where
// lastAck is when the last acknowledged renewal was sent and TTL the one
// it granted; true again once a renewal (or a new registration after the
// lease was lost) is acknowledged. False after Stop.
func (l *NodeLease) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

// Changed returns a channel closed at the next change of Held. Read it
// before Held, then wait on it, and no change is missed:
//
//	for {
//		changed := lease.Changed()
//		act(lease.Held())
//		<-changed
//	}
func (l *NodeLease) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// ack records lease id acknowledged at at for ttl: a grant or a renewal,
// each timed when its request was sent, before etcd could start the TTL.
func (l *NodeLease) ack(id clientv3.LeaseID, at time.Time, ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped || id != l.lease {
		return
	}
	deadline := at.Add(ttl - NodeLeaseSafetyMargin)
	if !deadline.After(time.Now()) {
		// A grant sent long before its answer (etcd was stopped, or a
		// partition healed) proves too little: the keep-alive response
		// that follows it at once, timed as it arrives, will.
		return
	}
	l.deadline = deadline
	l.expiry.Reset(time.Until(deadline))
	l.setHeld(true)
}

// expire runs at the deadline. A renewal may have moved the deadline
// meanwhile (the timer fired as it was reset): then it waits again.
func (l *NodeLease) expire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	if left := time.Until(l.deadline); left > 0 {
		l.expiry.Reset(left)
		return
	}
	if l.held {
		l.metrics.failure("lost")
	}
	l.setHeld(false)
}

// lost marks the lease gone at once: etcd closed its keep-alive (revoked,
// expired, or the client gave up on it).
func (l *NodeLease) lost() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held {
		l.metrics.failure("lost")
	}
	l.deadline = time.Time{}
	l.setHeld(false)
}

// setHeld must be called with mu held.
func (l *NodeLease) setHeld(held bool) {
	if l.stopped {
		held = false
	}
	if held == l.held {
		return
	}
	l.held = held
	l.metrics.setHeld(held)
	close(l.changed)
	l.changed = make(chan struct{})
}

// RegisterNode writes this cubelet's Node and its liveness key on a new
// lease, then keeps the lease alive until Stop or ctx ends. When the
// lease is lost all the same (etcd unreachable longer than the TTL), it
// registers again on a new lease as soon as etcd answers. The first
// registration is synchronous, so a cubelet that cannot register fails
// to start.
func (e *Etcd) RegisterNode(ctx context.Context, reg NodeRegistration) (*NodeLease, error) {
	if reg.TTL == 0 {
		reg.TTL = DefaultNodeLeaseTTL
	}
	if reg.TTL < 2*time.Second {
		reg.TTL = 2 * time.Second
	}
	// runCtx carries the keep-alive: it outlives the caller's ctx only
	// until the watcher below sees ctx end and calls Stop.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	metrics := newLeaseMetrics(reg.Metrics)
	granted, alive, err := e.registerOnce(ctx, runCtx, reg)
	if err != nil {
		metrics.failure("registration")
		cancel()
		return nil, err
	}
	l := &NodeLease{cancel: cancel, done: make(chan struct{}), metrics: metrics, lease: granted.id, changed: make(chan struct{})}
	l.expiry = time.AfterFunc(time.Hour, l.expire)
	l.ack(granted.id, granted.at, granted.ttl)
	go l.run(runCtx, e, reg, alive)
	go func() {
		select {
		case <-ctx.Done():
			l.Stop()
		case <-l.done:
		}
	}()
	return l, nil
}

// Stop stops renewing and lets the lease expire on its own, a TTL after
// its last renewal: a cubelet restarted within the TTL plus the leader's
// --node-grace (an upgrade, a config change) finds its tasks still bound
// to it and its containers running, instead of having every task moved
// away and removing its own containers on return. Held is false from
// then on.
func (l *NodeLease) Stop() {
	l.cancel()
	<-l.done
}

// Leave stops renewing and revokes the lease, so the node shows NotReady
// at once: a node leaving for good, whose tasks may move as soon as the
// grace allows.
func (l *NodeLease) Leave() {
	l.mu.Lock()
	l.leave = true
	l.mu.Unlock()
	l.Stop()
}

func (l *NodeLease) run(ctx context.Context, e *Etcd, reg NodeRegistration, alive <-chan renewal) {
	defer close(l.done)
	defer func() {
		l.mu.Lock()
		l.stopped = true
		l.expiry.Stop()
		l.setHeld(false)
		l.mu.Unlock()
	}()
	for {
		for r := range alive {
			l.metrics.renewals.Inc()
			l.ack(r.id, r.sent, r.ttl)
		}
		// The channel closed: Stop or Leave, or the lease is gone.
		if ctx.Err() != nil {
			l.mu.Lock()
			id, leave := l.lease, l.leave
			l.mu.Unlock()
			if leave {
				rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, _ = e.client.Revoke(rctx, id) // best effort: it expires anyway
				cancel()
			}
			return
		}
		l.lost()
		e.opts.Logger.Warn("node lease lost; registering again", "node", e.opts.NodeName)
		retry := time.NewTimer(0)
		for {
			select {
			case <-ctx.Done():
				retry.Stop()
				return
			case <-retry.C:
			}
			granted, ch, err := e.registerOnce(ctx, ctx, reg)
			if err == nil {
				l.mu.Lock()
				l.lease = granted.id
				l.mu.Unlock()
				l.ack(granted.id, granted.at, granted.ttl)
				alive = ch
				e.opts.Logger.Info("node registered again on a new lease", "node", e.opts.NodeName)
				break
			}
			l.metrics.failure("registration")
			e.opts.Logger.Warn("node registration failed", "node", e.opts.NodeName, "err", err)
			retry.Reset(time.Second)
		}
	}
}

// grantedLease is a lease as registerOnce granted it: at is when the grant
// was sent, which is no later than when etcd started its TTL.
type grantedLease struct {
	id  clientv3.LeaseID
	at  time.Time
	ttl time.Duration
}

// registerOnce grants a lease, writes the Node and its liveness key in one
// transaction, and starts the client's keep-alive of the lease.
func (e *Etcd) registerOnce(ctx, keepCtx context.Context, reg NodeRegistration) (grantedLease, <-chan renewal, error) {
	name := e.opts.NodeName
	opCtx, cancel := context.WithTimeout(ctx, e.opts.DialTimeout)
	defer cancel()
	sent := time.Now()
	grant, err := e.client.Grant(opCtx, int64(reg.TTL/time.Second))
	if err != nil {
		return grantedLease{}, nil, fmt.Errorf("register node %q: grant lease: %w", name, err)
	}
	granted := grantedLease{id: grant.ID, at: sent, ttl: time.Duration(grant.TTL) * time.Second}
	now := metav1.NewTime(e.opts.Now().UTC().Truncate(time.Second))
	node := v1.Node{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindNode},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: reg.Labels, CreationTimestamp: now},
		Status: v1.NodeStatus{
			Capacity:        reg.Capacity,
			LeaseID:         strconv.FormatInt(int64(grant.ID), 16),
			LeaseTTLSeconds: grant.TTL,
			RegisteredTime:  &now,
		},
	}
	// A node that registered before keeps its age and its spec (a cordon
	// set while it was away stays).
	if old, err := e.GetNode(opCtx, name); err == nil {
		node.CreationTimestamp = old.CreationTimestamp
		node.Spec = old.Spec
	} else if !apierrors.IsNotFound(err) {
		return grantedLease{}, nil, fmt.Errorf("register node %q: %w", name, err)
	}
	node.Status.Conditions = nil
	value, err := json.Marshal(&node)
	if err != nil {
		return grantedLease{}, nil, fmt.Errorf("register node %q: %w", name, err)
	}
	if _, err := e.client.Txn(opCtx).Then(
		clientv3.OpPut(e.nodeKey(name), string(value)),
		clientv3.OpPut(e.leaseKey(name), node.Status.LeaseID, clientv3.WithLease(grant.ID)),
	).Commit(); err != nil {
		return grantedLease{}, nil, fmt.Errorf("register node %q: write: %w", name, err)
	}
	// KeepAlive's context must outlive this call: the lease lives as long
	// as the registration, which RegisterNode's goroutine owns.
	return granted, e.keepAlive(keepCtx, grant.ID, granted.at, granted.ttl), nil
}

// ListNodes reads every Node and its liveness at one revision, sorted by
// name. Ready is True exactly for nodes whose lease key exists.
func (e *Etcd) ListNodes(ctx context.Context) (*v1.NodeList, error) {
	if err := e.usable(ctx); err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	nodes, err := e.client.Get(ctx, e.opts.Prefix+"nodes/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	rev := nodes.Header.Revision
	leases, err := e.client.Get(ctx, e.opts.Prefix+"nodeleases/", clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithRev(rev))
	if err != nil {
		return nil, fmt.Errorf("list node leases: %w", err)
	}
	live := make(map[string]bool, len(leases.Kvs))
	for _, kv := range leases.Kvs {
		live[string(kv.Key)[len(e.opts.Prefix+"nodeleases/"):]] = true
	}
	list := &v1.NodeList{
		TypeMeta: metav1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindNodeList},
		ListMeta: metav1.ListMeta{ResourceVersion: strconv.FormatInt(rev, 10)},
		Items:    make([]v1.Node, 0, len(nodes.Kvs)),
	}
	for _, kv := range nodes.Kvs {
		n, err := decodeNode(kv.Value, kv.ModRevision)
		if err != nil {
			return nil, fmt.Errorf("list nodes: key %s: %w", kv.Key, err)
		}
		setNodeReady(n, live[n.Name])
		list.Items = append(list.Items, *n)
	}
	return list, nil
}

// GetNode reads one Node with its liveness.
func (e *Etcd) GetNode(ctx context.Context, name string) (*v1.Node, error) {
	if err := e.usable(ctx); err != nil {
		return nil, fmt.Errorf("get node %q: %w", name, err)
	}
	resp, err := e.client.Txn(ctx).Then(
		clientv3.OpGet(e.nodeKey(name)),
		clientv3.OpGet(e.leaseKey(name), clientv3.WithKeysOnly()),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("get node %q: %w", name, err)
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return nil, apierrors.NewNotFound(v1.NodeResource, name)
	}
	n, err := decodeNode(kvs[0].Value, kvs[0].ModRevision)
	if err != nil {
		return nil, fmt.Errorf("get node %q: %w", name, err)
	}
	setNodeReady(n, len(resp.Responses[1].GetResponseRange().Kvs) > 0)
	return n, nil
}

// SetNodeUnschedulable sets spec.unschedulable of a registered node.
func (e *Etcd) SetNodeUnschedulable(ctx context.Context, name string, unschedulable bool) error {
	for {
		resp, err := e.client.Get(ctx, e.nodeKey(name))
		if err != nil {
			return fmt.Errorf("cordon node %q: %w", name, err)
		}
		if len(resp.Kvs) == 0 {
			return apierrors.NewNotFound(v1.NodeResource, name)
		}
		n, err := decodeNode(resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
		if err != nil {
			return fmt.Errorf("cordon node %q: %w", name, err)
		}
		n.Spec.Unschedulable = unschedulable
		n.ResourceVersion = ""
		value, err := json.Marshal(n)
		if err != nil {
			return fmt.Errorf("cordon node %q: %w", name, err)
		}
		key := e.nodeKey(name)
		txn, err := e.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)).
			Then(clientv3.OpPut(key, string(value))).Commit()
		if err != nil {
			return fmt.Errorf("cordon node %q: %w", name, err)
		}
		if txn.Succeeded {
			return nil
		}
	}
}

func decodeNode(value []byte, modRevision int64) (*v1.Node, error) {
	var n v1.Node
	if err := json.Unmarshal(value, &n); err != nil {
		return nil, fmt.Errorf("decode node: %w", err)
	}
	n.ResourceVersion = strconv.FormatInt(modRevision, 10)
	return &n, nil
}

func setNodeReady(n *v1.Node, live bool) {
	c := metav1.Condition{Type: v1.NodeReady, Status: metav1.ConditionTrue, Reason: "LeaseHeld", Message: "the node renews its lease"}
	if !live {
		c = metav1.Condition{Type: v1.NodeReady, Status: metav1.ConditionFalse, Reason: "LeaseExpired", Message: "the node's lease expired or was revoked: it stopped renewing it"}
	}
	if n.Status.RegisteredTime != nil {
		c.LastTransitionTime = *n.Status.RegisteredTime
	}
	n.Status.Conditions = []metav1.Condition{c}
}

// leaseMetrics are the node lease's metrics. They always exist; without
// a registerer they are just not exported.
type leaseMetrics struct {
	renewals prometheus.Counter
	failures *prometheus.CounterVec
	held     prometheus.Gauge
}

// newLeaseMetrics creates the lease's metrics and registers them with reg
// when it is not nil. A registerer that has them already (a node that
// registers again in the same process) keeps counting in the same ones.
func newLeaseMetrics(reg prometheus.Registerer) *leaseMetrics {
	m := &leaseMetrics{
		renewals: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "cubelet", Name: "node_lease_renewals_total",
			Help: "Keep-alive responses of this node's etcd lease: each one is a renewal etcd acknowledged.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cubelet", Name: "node_lease_failures_total",
			Help: "Node lease failures, by reason: lost (no longer held: expired by this node's count, or closed by etcd) or registration (a registration on a new lease failed).",
		}, []string{"reason"}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "cubelet", Name: "node_lease_held",
			Help: "1 while this node may consider its lease held (fencing acts when it is 0), else 0.",
		}),
	}
	if reg != nil {
		m.renewals = registerOrExisting(reg, m.renewals)
		m.failures = registerOrExisting(reg, m.failures)
		m.held = registerOrExisting(reg, m.held)
	}
	return m
}

func registerOrExisting[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("register node lease metrics: %v", err))
	}
	return c
}

func (m *leaseMetrics) failure(reason string) {
	m.failures.WithLabelValues(reason).Inc()
}

func (m *leaseMetrics) setHeld(held bool) {
	v := 0.0
	if held {
		v = 1
	}
	m.held.Set(v)
}

// renewal is one keep-alive of a node lease that etcd acknowledged, timed
// when its request was sent: etcd restarted the TTL after that.
type renewal struct {
	id   clientv3.LeaseID
	sent time.Time
	ttl  time.Duration
}

// renewalsPerTTL is how many keep-alives are sent per lease TTL. etcd's
// client sends one every third of the TTL; then an etcd leader election
// (a second or two without answers) right after a renewal was due could
// leave less than the margin, and every node would fence, stopping every
// container for a leader change that costs nothing else. Ten per TTL
// (every 500 ms at 5 s) keep the last acknowledged renewal recent, so a
// node stops counting on its lease only after about 4 s without any
// answer: a partition, not an election.
const renewalsPerTTL = 10

// keepAlive renews lease id, granted at granted, every ttl/renewalsPerTTL
// and sends each acknowledged renewal, until ctx ends, etcd says the
// lease is gone, or no renewal has been acknowledged for a TTL (the lease
// has expired, or may have: a new one is safer than hoping), as etcd's
// own KeepAlive gives up; the channel is then closed. A renewal that
// fails otherwise (no leader yet, a slow answer) is tried again at the
// next tick: the node's deadline decides meanwhile whether the lease
// still counts.
func (e *Etcd) keepAlive(ctx context.Context, id clientv3.LeaseID, granted time.Time, ttl time.Duration) <-chan renewal {
	out := make(chan renewal, 1)
	every := ttl / renewalsPerTTL
	go func() {
		defer close(out)
		tick := time.NewTicker(every)
		defer tick.Stop()
		lastOK := granted
		for {
			sent := time.Now()
			if sent.Sub(lastOK) > ttl {
				return
			}
			rctx, cancel := context.WithTimeout(ctx, 2*every)
			resp, err := e.client.KeepAliveOnce(rctx, id)
			cancel()
			switch {
			case ctx.Err() != nil:
				return
			case errors.Is(err, rpctypes.ErrLeaseNotFound) || (err == nil && resp.TTL <= 0):
				return // expired or revoked: the caller registers again
			case err == nil:
				lastOK = sent
				select {
				case out <- renewal{id: id, sent: sent, ttl: time.Duration(resp.TTL) * time.Second}:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return out
}
