// Package scheduler binds a cluster's unbound tasks to nodes
// (docs/cluster.md). It runs in every cubelet on etcd and acts only while
// it holds leadership of an etcd election, so one scheduler binds at a
// time; a binding is a compare-and-swap on the task's resourceVersion, so
// even two schedulers (a leader that lost its session without noticing
// yet) never bind one task twice to different nodes.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

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
	// Tasks is the task store; Nodes lists the nodes.
	Tasks store.Interface
	Nodes Nodes
	// Resync is how often a leader looks again without a task event, to
	// see nodes that joined or came back. Default 1s.
	Resync time.Duration
	// SessionTTL is the election session's lease, in seconds: a leader
	// that dies is replaced this long after. Default 5.
	SessionTTL int
	Logger     *slog.Logger
}

// Scheduler binds unbound tasks while it leads.
type Scheduler struct {
	opts Options
}

// New returns a scheduler; Run starts it.
func New(opts Options) *Scheduler {
	if opts.Resync <= 0 {
		opts.Resync = time.Second
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 5
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{opts: opts}
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
	session, err := concurrency.NewSession(s.opts.Client, concurrency.WithTTL(s.opts.SessionTTL), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("election session: %w", err)
	}
	defer func() { _ = session.Close() }()
	election := concurrency.NewElection(session, s.opts.Prefix+"scheduler-leader")
	if err := election.Campaign(ctx, s.opts.NodeName); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	s.opts.Logger.Info("scheduler: leading", "node", s.opts.NodeName)
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

// schedule runs passes: one at once, then one after each task event
// (coalesced) or every Resync.
func (s *Scheduler) schedule(ctx context.Context) error {
	for {
		rv, err := s.pass(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.opts.Logger.Warn("scheduler: pass failed", "err", err)
		}
		if err := s.waitForChange(ctx, rv); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// waitForChange returns after a task event since rv, or Resync.
func (s *Scheduler) waitForChange(ctx context.Context, rv string) error {
	timer := time.NewTimer(s.opts.Resync)
	defer timer.Stop()
	if rv == "" {
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
		return nil
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.opts.Tasks.Watch(wctx, rv)
	if err != nil {
		// 410 and the like: the next pass lists again.
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
		return nil
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			// Only a task that needs a node starts a pass early: the
			// status writes of every node's controller would otherwise
			// each cost a full list. Freed capacity (a task stopped or
			// deleted) waits for the resync.
			if t, isTask := ev.Object.(*v1.Task); isTask && (ev.Type == watch.Added || ev.Type == watch.Modified) &&
				t.Spec.NodeName == "" {
				return nil
			}
			if ev.Type == watch.Error {
				return nil
			}
		}
	}
}

// pass binds every unbound task it can, and returns the resourceVersion
// of the task list it read.
func (s *Scheduler) pass(ctx context.Context) (string, error) {
	tasks, err := s.opts.Tasks.List(ctx, labels.Everything())
	if err != nil {
		return "", fmt.Errorf("list tasks: %w", err)
	}
	nodes, err := s.opts.Nodes.ListNodes(ctx)
	if err != nil {
		return "", fmt.Errorf("list nodes: %w", err)
	}
	loads := newLoads(nodes.Items, tasks.Items)
	for i := range tasks.Items {
		t := &tasks.Items[i]
		if t.Spec.NodeName != "" && !(t.DeletionTimestamp != nil && loads[t.Spec.NodeName] == nil) {
			continue
		}
		if t.DeletionTimestamp != nil {
			// No node reconciles an unbound task, or one bound to a
			// node that never registered (a mistyped spec.nodeName), so
			// no node would ever release its finalizer: the scheduler
			// does. Containers an earlier binding left are then orphans,
			// which their node removes once the task is gone.
			if err := s.finalize(ctx, t); err != nil {
				s.opts.Logger.Warn("scheduler: finalize unbound task", "task", t.Name, "err", err)
			}
			continue
		}
		node, reasons := pick(t, loads)
		if node == "" {
			s.opts.Logger.Info("scheduler: no node fits", "task", t.Name, "nodes", len(nodes.Items), "reasons", reasons)
			continue
		}
		bound, err := s.bind(ctx, t, node)
		switch {
		case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
			// Changed or deleted since the list: the watch brings the
			// next pass, which sees the fresh task.
			continue
		case err != nil:
			return tasks.ResourceVersion, err
		}
		loads[node].add(bound)
		s.opts.Logger.Info("scheduler: bound", "task", t.Name, "node", node)
	}
	return tasks.ResourceVersion, nil
}

// finalize releases the containers finalizer of a deleted unbound task,
// under its resourceVersion: a task bound meanwhile is its node's to
// finalize.
func (s *Scheduler) finalize(ctx context.Context, t *v1.Task) error {
	if !slices.Contains(t.Finalizers, v1.FinalizerContainers) {
		return nil
	}
	u := t.DeepCopy()
	u.Finalizers = slices.DeleteFunc(u.Finalizers, func(f string) bool { return f == v1.FinalizerContainers })
	if _, err := s.opts.Tasks.Update(ctx, u); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("release finalizer of unbound task %q: %w", t.Name, err)
	}
	s.opts.Logger.Info("scheduler: finalized unbound task", "task", t.Name)
	return nil
}

// bind sets spec.nodeName under the task's resourceVersion as read: a
// compare-and-swap, so a task changed meanwhile (by the user, or bound by
// someone else) is never overwritten.
func (s *Scheduler) bind(ctx context.Context, t *v1.Task, node string) (*v1.Task, error) {
	b := t.DeepCopy()
	b.Spec.NodeName = node
	out, err := s.opts.Tasks.Update(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("bind task %q to %s: %w", t.Name, node, err)
	}
	return out, nil
}
