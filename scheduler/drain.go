package scheduler

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
)

// DrainNodes is what a drain needs of the cluster's nodes (the etcd
// store): read them, and cordon one.
type DrainNodes interface {
	Nodes
	GetNode(ctx context.Context, name string) (*v1.Node, error)
	SetNodeUnschedulable(ctx context.Context, name string, unschedulable bool) error
}

// drainAttempts bounds the binds of one task: each 409 (its node's
// controller wrote its status, the user changed it) reads it again.
const drainAttempts = 5

// Drain cordons node, then binds each of its tasks that can move to
// another node, chosen as the scheduler chooses (the same filter and
// score, counting the bindings this drain has made), with a
// compare-and-swap on the task's resourceVersion: a task changed meanwhile
// is read again and looked at afresh, never overwritten. It binds directly
// rather than unbinding for the leader to bind, so the drained node
// removes its container as soon as it sees the new binding, and the new
// node starts the task's new run (the binding is a new generation).
//
// Tasks that cannot move stay bound to the node, listed in Left with the
// reason (see moveOf); the node stays cordoned. Drain is idempotent: run
// again, it moves what it could not move before.
func Drain(ctx context.Context, tasks store.Interface, nodes DrainNodes, node string) (*v1.NodeDrain, error) {
	if err := nodes.SetNodeUnschedulable(ctx, node, true); err != nil {
		return nil, err
	}
	// Read after the cordon: a scheduler pass that read the node as
	// schedulable before it may still bind a task here; drain again.
	list, err := tasks.List(ctx, labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("drain node %q: list tasks: %w", node, err)
	}
	nl, err := nodes.ListNodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("drain node %q: list nodes: %w", node, err)
	}
	listed := make([]*v1.Task, len(list.Items))
	for i := range list.Items {
		listed[i] = &list.Items[i]
	}
	d := &drainer{tasks: tasks, node: node, loads: newLoads(nl.Items, listed)}
	delete(d.loads, node) // never back where it comes from
	out := &v1.NodeDrain{
		TypeMeta: metav1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindNodeDrain},
		Moved:    []v1.DrainedTask{},
		Left:     []v1.DrainedTask{},
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	for i := range list.Items {
		t := &list.Items[i]
		if t.Spec.NodeName != node {
			continue
		}
		r, moved, err := d.move(ctx, t)
		switch {
		case err != nil:
			return nil, err
		case r == nil:
		case moved:
			out.Moved = append(out.Moved, *r)
		default:
			out.Left = append(out.Left, *r)
		}
	}
	n, err := nodes.GetNode(ctx, node)
	if err != nil {
		return nil, fmt.Errorf("drain node %q: %w", node, err)
	}
	n.APIVersion, n.Kind = v1.APIVersion, v1.KindNode
	out.Node = *n
	return out, nil
}

type drainer struct {
	tasks store.Interface
	node  string
	loads map[string]*nodeLoad
}

// move binds t elsewhere, reading it again after each conflict. It
// returns nil when there is nothing to report (the task needs no move, or
// is gone), the moved task, or the left one.
func (d *drainer) move(ctx context.Context, t *v1.Task) (*v1.DrainedTask, bool, error) {
	for attempt := 1; ; attempt++ {
		switch m, reason, msg := moveOf(t, d.node); m {
		case drainSkip:
			return nil, false, nil
		case drainLeave:
			return &v1.DrainedTask{Name: t.Name, Reason: reason, Message: msg}, false, nil
		}
		to, reasons := pick(t, d.loads)
		if to == "" {
			return &v1.DrainedTask{Name: t.Name, Reason: v1.DrainLeftNoNodeFits,
				Message: "no other node fits: " + formatReasons(reasons, len(d.loads))}, false, nil
		}
		b := t.DeepCopy()
		b.Spec.NodeName = to
		bound, err := d.tasks.Update(ctx, b) // under t's resourceVersion: a CAS
		switch {
		case err == nil:
			d.loads[to].add(bound)
			return &v1.DrainedTask{Name: t.Name, NodeName: to, Generation: bound.Generation}, true, nil
		case apierrors.IsNotFound(err):
			return nil, false, nil
		case !apierrors.IsConflict(err):
			return nil, false, fmt.Errorf("drain node %q: bind task %q to %s: %w", d.node, t.Name, to, err)
		case attempt == drainAttempts:
			return &v1.DrainedTask{Name: t.Name, Reason: v1.DrainLeftConflict,
				Message: fmt.Sprintf("changed under each of %d attempts to bind it; drain again", drainAttempts)}, false, nil
		}
		fresh, err := d.tasks.Get(ctx, t.Name)
		switch {
		case apierrors.IsNotFound(err):
			return nil, false, nil
		case err != nil:
			return nil, false, fmt.Errorf("drain node %q: read task %q again: %w", d.node, t.Name, err)
		}
		t = fresh
	}
}

type drainMove int

const (
	drainSkip  drainMove = iota // nothing runs, or not bound here: not listed
	drainLeave                  // stays, reported
	drainBind                   // moves
)

// moveOf decides what a drain of node does with t:
//
//   - not bound to node (any more), being deleted (its node finishes the
//     deletion), stopped (desiredState Completed), or its run has ended
//     for good (a Never task Completed or Failed, an OnFailure one
//     Completed): nothing runs there that needs a node; skipped.
//   - a Never task whose run has not ended: left. A move starts a new
//     run, and the first may still run or may have had its effects: it
//     must never run twice. It finishes where it runs.
//   - a task posted through the Cube API: left; its manager is its one
//     restart authority, and a move would be a restart it never sent.
//   - an Always or OnFailure task otherwise: moved.
func moveOf(t *v1.Task, node string) (drainMove, string, string) {
	if t.Spec.NodeName != node || t.DeletionTimestamp != nil || t.Spec.DesiredState == v1.Completed || runEnded(t) {
		return drainSkip, "", ""
	}
	if t.Annotations[v1.AnnotationRestartAuthority] == v1.RestartAuthorityCubeManager {
		return drainLeave, v1.DrainLeftCubeManaged, "posted by a Cube manager, its one restart authority: a move would be a restart it never sent"
	}
	if restartPolicyOf(t) == v1.RestartNever {
		return drainLeave, v1.DrainLeftNever, "restartPolicy Never: it finishes where it runs (moved, it could run twice)"
	}
	return drainBind, "", ""
}

// formatReasons renders pick's reasons as the scheduler logs them, as
// Kubernetes' "0/3 nodes are available: 1 Unschedulable, 2 …".
func formatReasons(reasons map[string]int, nodes int) string {
	if nodes == 0 {
		return "there is no other node"
	}
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", reasons[k], k))
	}
	return fmt.Sprintf("0/%d nodes available: %s", nodes, strings.Join(parts, ", "))
}
