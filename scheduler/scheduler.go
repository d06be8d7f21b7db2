// Package scheduler binds a cluster's unbound tasks to nodes
// (docs/cluster.md). It runs in every cubelet on etcd and acts only while
// it holds leadership of an etcd election, so one scheduler binds at a
// time; a binding is a compare-and-swap on the task's resourceVersion, so
// even two schedulers (a leader that lost its session without noticing
// yet) never bind one task twice to different nodes.
//
// The leader also fails over the tasks of lost nodes (failover.go): once a
// node has been NotReady for NodeGrace, its restartable tasks are bound
// elsewhere, its Never jobs end Failed/NodeLost where they are, and its
// deleted tasks are finalized. It must not touch containers or write any
// status but NodeLost: each node's controller owns its tasks' runs.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
)

// Nodes lists the cluster's nodes with their readiness.
type Nodes interface {
	ListNodes(ctx context.Context) (*v1.NodeList, error)
}

// Options configure a Scheduler.
type Options struct {
	// Client is the etcd client of the election.
	Client *clientv3.Client
	// Prefix is the cluster's key prefix; the election key is under it.
	Prefix string
	// NodeName is this cubelet's name, its candidacy's value.
	NodeName string
	// Tasks is the task store, written to; Informer is the informer over
	// it that passes read (serve shares the controller's), which the
	// caller runs. Nodes lists the nodes.
	Tasks    store.Interface
	Informer cache.SharedIndexInformer
	Nodes    Nodes
	// Resync is how often a leader looks again without a task event, to
	// see nodes that joined or came back. Default 1s.
	Resync time.Duration
	// SessionTTL is the election session's lease, in seconds: a leader
	// that dies is replaced this long after. Default 5.
	SessionTTL int
	// NodeGrace is how long a node must have been NotReady, as this
	// leader saw it, before its tasks fail over (a node that comes back
	// within it keeps them). Default DefaultNodeGrace.
	NodeGrace time.Duration
	// Registerer receives the scheduler's metrics; nil exports none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// DefaultNodeGrace is the default Options.NodeGrace. With the node lease
// of 5 s and the 1 s resync, a dead node's tasks are re-bound 5.4 to 8 s
// after its death (docs/cluster.md, Failover): inside the 10 s the issue
// asks for, with room for the new node to start the containers.
const DefaultNodeGrace = 2 * time.Second

// Scheduler binds unbound tasks while it leads.
type Scheduler struct {
	opts    Options
	metrics *metrics

	// mu guards lostSince, which the pass writes and tests read.
	mu sync.Mutex
	// lostSince is when this leader first saw each node NotReady. It
	// lives in the leader's memory only: a new leader starts every clock
	// afresh, so a leader change can delay a failover by up to one
	// NodeGrace, never hasten one (a clock inherited from a dead leader
	// could not be trusted across machines anyway).
	lostSince map[string]time.Time
	// unboundSince is when this leader first listed each unbound task,
	// for the binding latency. Only the pass touches it.
	unboundSince map[types.UID]time.Time
	// unfit is why each unbound task fit no node, as last logged: a task
	// that stays unschedulable is logged when its reasons change, not at
	// every pass (a thousand waiting tasks would log a thousand lines a
	// second). Only the pass touches it.
	unfit map[types.UID]string
	// assumed are the tasks this leader wrote (bound, moved, ended) as
	// it wrote them, until the informer's cache shows that write: a pass
	// reads the cache, and must neither place a task it just placed nor
	// count it on the node the cache still has it on (kube-scheduler's
	// assumed pods). Only the pass and the bindings it starts touch it.
	assumed map[types.UID]assumption
	// wake has a value when a task event asks for a pass.
	wake chan struct{}
}

// assumption is a write of the leader the cache may not show yet.
type assumption struct {
	task *v1.Task // as written
	rv   int64
	at   time.Time
}

// assumeFor bounds how long a write is assumed without the cache showing
// it: a write whose echo never came (the watch restarted past it) is
// then read as the cache has it, and a stale copy only costs a
// compare-and-swap that fails.
const assumeFor = 30 * time.Second

// New returns a scheduler; Run starts it.
func New(opts Options) *Scheduler {
	if opts.Resync <= 0 {
		opts.Resync = time.Second
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 5
	}
	if opts.NodeGrace <= 0 {
		opts.NodeGrace = DefaultNodeGrace
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{opts: opts, metrics: newMetrics(opts.Registerer), lostSince: map[string]time.Time{}, unboundSince: map[types.UID]time.Time{},
		unfit: map[types.UID]string{}, assumed: map[types.UID]assumption{}, wake: make(chan struct{}, 1)}
	if opts.Informer != nil {
		_, _ = opts.Informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    s.taskEvent,
			UpdateFunc: func(_, obj interface{}) { s.taskEvent(obj) },
		})
	}
	return s
}

// taskEvent asks for a pass when a task needs a node (or, deleted, its
// finalizer released). Other changes, the status writes of every node's
// controller above all, wait for the resync: freed capacity included.
func (s *Scheduler) taskEvent(obj interface{}) {
	if t, ok := obj.(*v1.Task); ok && t.Spec.NodeName == "" {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// Run campaigns for leadership and schedules while it holds it, until ctx
// ends. A lost session (etcd unreachable past its TTL) drops leadership;
// Run then campaigns again.
func (s *Scheduler) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := s.lead(ctx); err != nil && ctx.Err() == nil {
			s.opts.Logger.Warn("scheduler: leadership ended", "err", err)
			t := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
	}
	return nil
}

// lead wins the election (blocking), then schedules until the session or
// ctx ends.
func (s *Scheduler) lead(ctx context.Context) error {
	// Only a candidate with a synced cache campaigns: a leader still
	// waiting for its cache would hold the election and schedule nothing.
	if s.opts.Informer == nil {
		return errors.New("scheduler: no task informer")
	}
	if !cache.WaitForCacheSync(ctx.Done(), s.opts.Informer.HasSynced) {
		return nil // ctx ended
	}
	session, err := concurrency.NewSession(s.opts.Client, concurrency.WithTTL(s.opts.SessionTTL), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("election session: %w", err)
	}
	defer func() { _ = session.Close() }()
	election := concurrency.NewElection(session, s.opts.Prefix+"scheduler-leader")
	if err := election.Campaign(ctx, s.opts.NodeName); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	s.opts.Logger.Info("scheduler: leading", "node", s.opts.NodeName, "nodeGrace", s.opts.NodeGrace)
	s.forget()
	s.metrics.leader.Set(1)
	defer func() {
		s.metrics.leader.Set(0)
		s.forget()
	}()
	leadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// Leadership lasts as long as the session's lease.
		select {
		case <-session.Done():
			cancel()
		case <-leadCtx.Done():
		}
	}()
	err = s.schedule(leadCtx)
	resignCtx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer rcancel()
	_ = election.Resign(resignCtx) // so the next leader need not wait for the TTL
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		err = errors.New("session lost")
	}
	return err
}

// forget drops what a leader remembers: the next leader, even this
// scheduler leading again, starts its clocks afresh.
func (s *Scheduler) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.lostSince)
	clear(s.unboundSince)
	clear(s.unfit)
	clear(s.assumed)
}

// nodeLostSince is when this leader first saw node NotReady; false while
// it is Ready, unknown, or this scheduler does not lead.
func (s *Scheduler) nodeLostSince(node string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.lostSince[node]
	return t, ok
}

// schedule runs passes: one at once, then one after each task event
// (coalesced), every Resync, or when a lost node's grace ends.
func (s *Scheduler) schedule(ctx context.Context) error {
	for {
		res, err := s.pass(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.opts.Logger.Warn("scheduler: pass failed", "err", err)
		}
		wait := s.opts.Resync
		if graceEnds := res.graceEnds; graceEnds > 0 && graceEnds < wait {
			// A failover is due before the resync: act on time rather
			// than up to a Resync late.
			wait = graceEnds
		}
		if err := s.waitForChange(ctx, res, wait); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// waitForChange returns after a task that needs a node or any change of
// a node (registered, cordoned, its lease gone) since the pass read them,
// or after wait.
func (s *Scheduler) waitForChange(ctx context.Context, res passResult, wait time.Duration) error {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Node keys change rarely (a registration, a cordon, a lease key that
	// etcd deletes when it expires): each is a reason to look again at
	// once, so a lost node's clock starts when etcd drops its lease, not
	// up to a Resync later, and an uncordoned node gets work at once.
	var nodeEvents clientv3.WatchChan
	if s.opts.Client != nil && res.nodesRV > 0 {
		nodeEvents = s.opts.Client.Watch(wctx, s.opts.Prefix+"node", clientv3.WithPrefix(),
			clientv3.WithRev(res.nodesRV+1), clientv3.WithKeysOnly())
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
			return nil
		case _, ok := <-nodeEvents:
			if !ok {
				nodeEvents = nil // ended (compacted, canceled): the timer remains
				continue
			}
			return nil
		case <-s.wake:
			return nil
		}
	}
}

// passResult is what a pass read, for the wait after it.
type passResult struct {
	// nodesRV is the revision of the node list.
	nodesRV int64
	// graceEnds is how long until the grace of a lost node with tasks
	// still to fail over ends (0: none pending).
	graceEnds time.Duration
}

// pass binds every unbound task it can and fails over the tasks of nodes
// lost for NodeGrace.
func (s *Scheduler) pass(ctx context.Context) (passResult, error) {
	listed := time.Now()
	// A task event from here on asks for another pass.
	select {
	case <-s.wake:
	default:
	}
	tasks := s.cachedTasks(listed)
	nodes, err := s.opts.Nodes.ListNodes(ctx)
	if err != nil {
		return passResult{}, fmt.Errorf("list nodes: %w", err)
	}
	now := time.Now()
	lost := s.trackNodes(nodes.Items, now)
	loads := newLoads(nodes.Items, tasks)
	var graceEnds time.Duration
	unbound := map[types.UID]bool{}
	var binds []binding
	for _, t := range tasks {
		switch node := t.Spec.NodeName; {
		case node != "" && loads[node] == nil:
			// Bound to a node that never registered (a mistyped
			// spec.nodeName): no node reconciles it, so a deleted one
			// is finalized here; a live one waits for its node.
			if t.DeletionTimestamp != nil {
				s.finalize(ctx, t, "bound to unregistered node "+node)
			}
		case node != "":
			since, isLost := lost[node]
			if !isLost {
				continue
			}
			switch failoverPlan(t, since, now, s.opts.NodeGrace) {
			case failoverWait:
				if d := since.Add(s.opts.NodeGrace).Sub(now); graceEnds == 0 || d < graceEnds {
					graceEnds = d
				}
			case failoverRebind:
				if err := s.rebind(ctx, t, loads); err != nil {
					s.opts.Logger.Warn("scheduler: failover", "task", t.Name, "from", node, "err", err)
				}
			case failoverNodeLost:
				if err := s.endRun(ctx, t, now); err != nil {
					s.opts.Logger.Warn("scheduler: failover", "task", t.Name, "from", node, "err", err)
				}
			case failoverFinalize:
				if s.finalize(ctx, t, "bound to lost node "+node) {
					s.metrics.failover(kindFinalized)
					s.opts.Logger.Info("scheduler: failover", "task", t.Name, "from", node, "to", "", "kind", kindFinalized)
				}
			}
		case t.DeletionTimestamp != nil:
			// No node reconciles an unbound task, so no node would
			// ever release its finalizer: the scheduler does.
			// Containers an earlier binding left are then orphans,
			// which their node removes once the task is gone.
			s.finalize(ctx, t, "unbound")
		default:
			unbound[t.UID] = true
			if _, ok := s.unboundSince[t.UID]; !ok {
				s.unboundSince[t.UID] = listed
			}
			node, reasons := pick(t, loads)
			if node == "" {
				s.metrics.attempt(resultUnschedulable)
				if why := fmt.Sprint(reasons); s.unfit[t.UID] != why {
					s.unfit[t.UID] = why
					s.opts.Logger.Info("scheduler: no node fits", "task", t.Name, "nodes", len(nodes.Items), "reasons", reasons)
				}
				continue
			}
			// Counted at once, so the next pick sees the node's load
			// with this task placed; a binding that then loses its
			// compare-and-swap is over-counted only until the next pass.
			loads[node].add(t)
			binds = append(binds, binding{task: t, node: node})
		}
	}
	err = s.bindAll(ctx, binds)
	for uid := range s.unboundSince {
		if !unbound[uid] {
			delete(s.unboundSince, uid) // bound elsewhere, or deleted
		}
	}
	for uid := range s.unfit {
		if !unbound[uid] {
			delete(s.unfit, uid)
		}
	}
	nodesRV, _ := strconv.ParseInt(nodes.ResourceVersion, 10, 64)
	return passResult{nodesRV: nodesRV, graceEnds: graceEnds}, err
}

// cachedTasks is every task in the informer's cache, each as this leader
// last wrote it when the cache does not show that write yet. Assumptions
// the cache caught up with, or older than assumeFor, end here. The tasks
// are the cache's (or the assumptions'): never modified.
func (s *Scheduler) cachedTasks(now time.Time) []*v1.Task {
	objs := s.opts.Informer.GetStore().List()
	tasks := make([]*v1.Task, 0, len(objs))
	seen := make(map[types.UID]bool, len(s.assumed))
	for _, obj := range objs {
		t, ok := obj.(*v1.Task)
		if !ok {
			continue
		}
		if a, ok := s.assumed[t.UID]; ok {
			seen[t.UID] = true
			rv, _ := strconv.ParseInt(t.ResourceVersion, 10, 64)
			if rv < a.rv && now.Sub(a.at) < assumeFor {
				t = a.task
			} else {
				delete(s.assumed, t.UID)
			}
		}
		tasks = append(tasks, t)
	}
	for uid := range s.assumed {
		if !seen[uid] {
			delete(s.assumed, uid) // deleted
		}
	}
	return tasks
}

// assume records a write the cache may not show yet.
func (s *Scheduler) assume(t *v1.Task, now time.Time) {
	rv, err := strconv.ParseInt(t.ResourceVersion, 10, 64)
	if err != nil {
		return
	}
	s.assumed[t.UID] = assumption{task: t, rv: rv, at: now}
}

// binding is one placement a pass decided.
type binding struct {
	task *v1.Task
	node string
}

// concurrentBinds is how many bindings are in flight at once. Each is a
// read and a guarded transaction on etcd, two round trips that a serial
// loop would wait out one task at a time; placement stays serial (pass).
const concurrentBinds = 16

// bindAll writes the pass's bindings concurrently. A binding that lost its
// compare-and-swap (the task changed or was deleted since the list) is
// left to the next pass, which the watch brings; the first other error
// is returned.
func (s *Scheduler) bindAll(ctx context.Context, binds []binding) error {
	var (
		mu       sync.Mutex
		firstErr error
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrentBinds)
	for _, b := range binds {
		g.Go(func() error {
			out, err := s.bind(gctx, b.task, b.node)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
				s.metrics.attempt(resultConflict)
			case err != nil:
				s.metrics.attempt(resultError)
				if firstErr == nil {
					firstErr = err
				}
			default:
				s.assume(out, time.Now())
				s.metrics.attempt(resultBound)
				s.metrics.bound(s.unboundSince[b.task.UID], time.Now())
				delete(s.unboundSince, b.task.UID)
				s.opts.Logger.Info("scheduler: bound", "task", b.task.Name, "node", b.node)
			}
			return nil
		})
	}
	_ = g.Wait()
	return firstErr
}

// trackNodes records when each node was first seen NotReady, forgets
// those Ready again (a node back within its grace keeps its tasks, and a
// later loss starts a new clock) or no longer listed, and returns a copy.
func (s *Scheduler) trackNodes(nodes []v1.Node, now time.Time) map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	listed := make(map[string]bool, len(nodes))
	for i := range nodes {
		n := &nodes[i]
		listed[n.Name] = true
		_, known := s.lostSince[n.Name]
		switch ready := v1.NodeIsReady(n); {
		case ready && known:
			delete(s.lostSince, n.Name)
			s.opts.Logger.Info("scheduler: node Ready again", "node", n.Name)
		case !ready && !known:
			s.lostSince[n.Name] = now
			s.opts.Logger.Info("scheduler: node NotReady", "node", n.Name, "failoverIn", s.opts.NodeGrace)
		}
	}
	for name := range s.lostSince {
		if !listed[name] {
			delete(s.lostSince, name)
		}
	}
	return maps.Clone(s.lostSince)
}

// rebind moves t off its lost node: to the node pick chooses among the
// others, or unbound when none fits (then retried as any unbound task).
// It is a compare-and-swap under the resourceVersion t was read at; the
// spec change bumps the generation, so the new node starts a new run.
func (s *Scheduler) rebind(ctx context.Context, t *v1.Task, loads map[string]*nodeLoad) error {
	from := t.Spec.NodeName
	to, reasons := pick(t, loads)
	b := t.DeepCopy()
	b.Spec.NodeName = to
	out, err := store.UpdateFrom(ctx, s.opts.Tasks, t, b)
	switch {
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		// Changed meanwhile (re-bound by the user, deleted, a status
		// write of its node): the next pass decides again, fresh.
		s.metrics.attempt(resultConflict)
		return nil
	case err != nil:
		s.metrics.attempt(resultError)
		return fmt.Errorf("move task %q from lost node %s to %q: %w", t.Name, from, to, err)
	}
	s.assume(out, time.Now())
	if to == "" {
		s.metrics.attempt(resultUnschedulable)
		s.metrics.failover(kindUnbound)
		s.opts.Logger.Info("scheduler: failover", "task", t.Name, "from", from, "to", "", "kind", kindUnbound, "reasons", reasons)
		return nil
	}
	s.metrics.attempt(resultBound)
	s.metrics.failover(kindRebound)
	loads[to].add(out)
	s.opts.Logger.Info("scheduler: failover", "task", t.Name, "from", from, "to", to, "kind", kindRebound, "generation", out.Generation)
	return nil
}

// endRun writes t's run Failed with reason NodeLost, under the
// resourceVersion t was read at, and leaves it bound to its lost node:
// unbound, the scheduler would bind it again and it could run twice.
func (s *Scheduler) endRun(ctx context.Context, t *v1.Task, now time.Time) error {
	u := t.DeepCopy()
	u.Status = nodeLostStatus(t, t.Spec.NodeName, s.opts.NodeGrace, now)
	out, err := store.UpdateStatusFrom(ctx, s.opts.Tasks, t, u)
	switch {
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		return nil // decided again, fresh, by the next pass
	case err != nil:
		return fmt.Errorf("end run of task %q on lost node %s: %w", t.Name, t.Spec.NodeName, err)
	}
	s.assume(out, now)
	s.metrics.failover(kindNodeLost)
	s.opts.Logger.Info("scheduler: failover", "task", t.Name, "from", t.Spec.NodeName, "to", "", "kind", kindNodeLost)
	return nil
}

// finalize releases the containers finalizer of a deleted task no live
// node reconciles, under its resourceVersion: a task bound meanwhile (or
// whose node came back and finalized it) is left to its node. It reports
// whether it released the finalizer; a failure is logged, and the next
// pass tries again.
func (s *Scheduler) finalize(ctx context.Context, t *v1.Task, why string) bool {
	if !hasContainersFinalizer(t) {
		return false
	}
	u := t.DeepCopy()
	u.Finalizers = slices.DeleteFunc(u.Finalizers, func(f string) bool { return f == v1.FinalizerContainers })
	_, err := s.opts.Tasks.Update(ctx, u)
	switch {
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		return false
	case err != nil:
		s.opts.Logger.Warn("scheduler: finalize", "task", t.Name, "why", why, "err", fmt.Errorf("release finalizer of task %q: %w", t.Name, err))
		return false
	}
	s.opts.Logger.Info("scheduler: finalized", "task", t.Name, "why", why)
	return true
}

// bind sets spec.nodeName under the task's resourceVersion as read: a
// compare-and-swap, so a task changed meanwhile (by the user, or bound by
// someone else) is never overwritten.
func (s *Scheduler) bind(ctx context.Context, t *v1.Task, node string) (*v1.Task, error) {
	b := t.DeepCopy()
	b.Spec.NodeName = node
	// t is the task as listed: commit against it without reading it
	// again (one round trip instead of two).
	out, err := store.UpdateFrom(ctx, s.opts.Tasks, t, b)
	if err != nil {
		return nil, fmt.Errorf("bind task %q to %s: %w", t.Name, node, err)
	}
	return out, nil
}
