package scheduler

import (
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// failoverAction is what the leader does with one task bound to a node that
// is NotReady.
type failoverAction string

const (
	// failoverNone: nothing, ever, for this task on this node loss (a
	// stopped task, a finished run, a deleted task without finalizer).
	failoverNone failoverAction = "none"
	// failoverWait: the node is within its grace; it may come back.
	failoverWait failoverAction = "wait"
	// failoverRebind: bind the task to another node (or unbind it when no
	// node fits): a spec change, so its new node starts a new run.
	failoverRebind failoverAction = "rebind"
	// failoverNodeLost: end the run Failed with reason NodeLost, bound
	// where it is: it may have run there, and must never run twice.
	failoverNodeLost failoverAction = "nodelost"
	// failoverFinalize: release the containers finalizer of a deleted
	// task, since the node that would is gone.
	failoverFinalize failoverAction = "finalize"
)

// failoverPlan decides what becomes of task t, bound to a node first seen
// NotReady at lostSince (by this leader), at now. It is pure: the leader
// performs the answer with a compare-and-swap on the resourceVersion t was
// read at, so a task that changed meanwhile is decided again, fresh.
//
// The restart policy is the one the controller applies: a task whose
// restarts belong to a Cube manager is Never (its manager restarts it
// once it reads Failed). A run that has ended for good within its
// generation (runEnded: by its restart policy) is left alone: moving it
// would bump the generation and run it again, which its own node would
// not have done.
func failoverPlan(t *v1.Task, lostSince, now time.Time, grace time.Duration) failoverAction {
	if lostSince.IsZero() {
		return failoverNone
	}
	if now.Sub(lostSince) < grace {
		return failoverWait
	}
	if t.DeletionTimestamp != nil {
		if hasContainersFinalizer(t) {
			return failoverFinalize
		}
		return failoverNone
	}
	if t.Spec.DesiredState == v1.Completed {
		// Stopped by the user: nothing runs, nothing to move. It stays
		// bound; its node reconciles it when it comes back.
		return failoverNone
	}
	if runEnded(t) {
		return failoverNone
	}
	if restartPolicyOf(t) == v1.RestartNever {
		return failoverNodeLost
	}
	return failoverRebind
}

// runEnded: the current generation's run has ended for good under the
// task's restart policy, as its status says: a Never task's (Cube's
// included) Completed or Failed, an OnFailure one's Completed; an Always
// task's never does. Nothing of it runs that a node is needed for. A
// status of an earlier generation says nothing of this run, which may
// have started (the controller writes no status between a create and the
// start event). Failover and drain both decide on it.
func runEnded(t *v1.Task) bool {
	if t.Status.ObservedGeneration != t.Generation {
		return false
	}
	switch restartPolicyOf(t) {
	case v1.RestartNever:
		return t.Status.State.Terminal()
	case v1.RestartOnFailure:
		return t.Status.State == v1.Completed
	default:
		return false
	}
}

// restartPolicyOf is the controller's reading of the restart policy
// (controller/decide.go restartPolicyOf): restarts a Cube manager owns are
// Never to cubelet.
func restartPolicyOf(t *v1.Task) v1.RestartPolicy {
	if t.Annotations[v1.AnnotationRestartAuthority] == v1.RestartAuthorityCubeManager {
		return v1.RestartNever
	}
	return t.Spec.RestartPolicy
}

// maxTransitions bounds status.transitions as the controller does
// (controller/status.go).
const maxTransitions = 10

// nodeLostStatus is t's status once its run ended with its node: Failed,
// reason NodeLost, for the current generation, so that the node, should it
// come back, sees a finished run and starts nothing (controller decide:
// a terminal status of the current generation is never reopened). The
// container fields are kept: they name what may have run there.
func nodeLostStatus(t *v1.Task, node string, grace time.Duration, now time.Time) v1.TaskStatus {
	s := *t.Status.DeepCopy()
	prev := s.State
	if prev == "" {
		prev = v1.Pending
	}
	at := metav1.NewTime(now.UTC().Truncate(time.Second))
	s.State = v1.Failed
	s.Reason = v1.ReasonNodeLost
	s.Message = fmt.Sprintf("node %s lost: its lease expired and it stayed NotReady for %s; restartPolicy %s, so the run, which may have started there, ends rather than run again",
		node, grace, restartPolicyOf(t))
	s.NextRetryTime = nil
	s.ObservedGeneration = t.Generation
	if prev != v1.Failed {
		s.Transitions = append(s.Transitions, v1.Transition{From: prev, To: v1.Failed, Reason: v1.ReasonNodeLost, Time: at})
		if n := len(s.Transitions); n > maxTransitions {
			s.Transitions = append([]v1.Transition(nil), s.Transitions[n-maxTransitions:]...)
		}
	}
	// The controller's conditions (controller/status.go; the scheduler
	// does not import the controller, which carries the Docker runtime):
	// a failed run is not Ready, not Progressing, and Degraded.
	for _, c := range []struct {
		typ    string
		status metav1.ConditionStatus
	}{{"Ready", metav1.ConditionFalse}, {"Progressing", metav1.ConditionFalse}, {"Degraded", metav1.ConditionTrue}} {
		meta.SetStatusCondition(&s.Conditions, metav1.Condition{
			Type: c.typ, Status: c.status, Reason: v1.ReasonNodeLost, Message: s.Message,
			ObservedGeneration: t.Generation, LastTransitionTime: at,
		})
	}
	return s
}

func hasContainersFinalizer(t *v1.Task) bool {
	return slices.Contains(t.Finalizers, v1.FinalizerContainers)
}
