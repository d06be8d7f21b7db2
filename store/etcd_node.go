package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// DefaultNodeLeaseTTL is the lease a node's liveness key lives on: a
// cubelet that stops renewing it is NotReady this long after its last
// renewal. etcd's client renews at a third of the TTL.
const DefaultNodeLeaseTTL = 5 * time.Second

// NodeRegistration is what a cubelet tells the cluster about itself.
type NodeRegistration struct {
	Labels   map[string]string
	Capacity map[string]resource.Quantity
	// TTL of the liveness lease; default DefaultNodeLeaseTTL, at least 2s
	// (etcd's minimum lease is a few seconds anyway).
	TTL time.Duration
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
type NodeLease struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	lease clientv3.LeaseID
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
	id, alive, err := e.registerOnce(ctx, runCtx, reg)
	if err != nil {
		cancel()
		return nil, err
	}
	l := &NodeLease{cancel: cancel, done: make(chan struct{}), lease: id}
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

// Stop stops renewing and revokes the lease, so the node shows NotReady
// at once rather than a TTL later.
func (l *NodeLease) Stop() {
	l.cancel()
	<-l.done
}

func (l *NodeLease) run(ctx context.Context, e *Etcd, reg NodeRegistration, alive <-chan *clientv3.LeaseKeepAliveResponse) {
	defer close(l.done)
	for {
		for range alive {
			// Each response is one renewal; nothing to do but drain.
		}
		// The channel closed: Stop, or the lease is gone.
		if ctx.Err() != nil {
			l.mu.Lock()
			id := l.lease
			l.mu.Unlock()
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _ = e.client.Revoke(rctx, id) // best effort: it expires anyway
			cancel()
			return
		}
		e.opts.Logger.Warn("node lease lost; registering again", "node", e.opts.NodeName)
		retry := time.NewTimer(0)
		for {
			select {
			case <-ctx.Done():
				retry.Stop()
				return
			case <-retry.C:
			}
			id, ch, err := e.registerOnce(ctx, ctx, reg)
			if err == nil {
				l.mu.Lock()
				l.lease = id
				l.mu.Unlock()
				alive = ch
				break
			}
			e.opts.Logger.Warn("node registration failed", "node", e.opts.NodeName, "err", err)
			retry.Reset(time.Second)
		}
	}
}

// registerOnce grants a lease, writes the Node and its liveness key in one
// transaction, and starts the client's keep-alive of the lease.
func (e *Etcd) registerOnce(ctx, keepCtx context.Context, reg NodeRegistration) (clientv3.LeaseID, <-chan *clientv3.LeaseKeepAliveResponse, error) {
	name := e.opts.NodeName
	opCtx, cancel := context.WithTimeout(ctx, e.opts.DialTimeout)
	defer cancel()
	grant, err := e.client.Grant(opCtx, int64(reg.TTL/time.Second))
	if err != nil {
		return 0, nil, fmt.Errorf("register node %q: grant lease: %w", name, err)
	}
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
		return 0, nil, fmt.Errorf("register node %q: %w", name, err)
	}
	node.Status.Conditions = nil
	value, err := json.Marshal(&node)
	if err != nil {
		return 0, nil, fmt.Errorf("register node %q: %w", name, err)
	}
	if _, err := e.client.Txn(opCtx).Then(
		clientv3.OpPut(e.nodeKey(name), string(value)),
		clientv3.OpPut(e.leaseKey(name), node.Status.LeaseID, clientv3.WithLease(grant.ID)),
	).Commit(); err != nil {
		return 0, nil, fmt.Errorf("register node %q: write: %w", name, err)
	}
	// KeepAlive's context must outlive this call: the lease lives as long
	// as the registration, which RegisterNode's goroutine owns.
	alive, err := e.client.KeepAlive(keepCtx, grant.ID)
	if err != nil {
		return 0, nil, fmt.Errorf("register node %q: keep lease alive: %w", name, err)
	}
	return grant.ID, alive, nil
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
