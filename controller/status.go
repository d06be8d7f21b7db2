package controller

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
)

// maxTransitions bounds status.transitions.
const maxTransitions = 10

// Condition types on a task's status (docs/api.md).
const (
	// ConditionReady: the container runs as the spec says.
	ConditionReady = "Ready"
	// ConditionProgressing: cubelet is bringing the task to its desired
	// state (creating, pulling, starting, stopping).
	ConditionProgressing = "Progressing"
	// ConditionDegraded: the task cannot reach its desired state on its own
	// right now (crash loop, image trouble, failed run).
	ConditionDegraded = "Degraded"
)

func metaTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metaTimeValue(t)
	return &mt
}

// metaTimeValue is metaTime for a field that holds the time itself: no
// allocation (every sync sets three conditions and maybe a transition).
func metaTimeValue(t time.Time) metav1.Time {
	return metav1.NewTime(t.UTC().Truncate(time.Second))
}

// observeContainer copies what the engine reports into the status.
func observeContainer(s *v1.TaskStatus, c *runtime.Container) {
	s.ContainerID = c.ID
	s.ContainerName = c.Name
	if !c.StartedAt.IsZero() {
		s.StartTime = metaTime(c.StartedAt)
	}
	s.HostPorts = nil
	if c.Running() {
		// FinishTime and ExitCode describe this container's exit: a
		// running one has none yet, whatever an earlier attempt did.
		s.FinishTime, s.ExitCode = nil, nil
		for _, p := range c.Ports {
			s.HostPorts = append(s.HostPorts, v1.HostPort{
				ContainerPort: int32(p.ContainerPort),
				Protocol:      protocolOf(p.Protocol),
				HostIP:        p.HostIP,
				HostPort:      int32(p.HostPort),
			})
		}
		return
	}
	if !c.FinishedAt.IsZero() {
		s.FinishTime = metaTime(c.FinishedAt)
		code := int32(c.ExitCode)
		s.ExitCode = &code
	}
}

func clearContainer(s *v1.TaskStatus) {
	s.ContainerID, s.ContainerName, s.HostPorts = "", "", nil
}

func protocolOf(p string) v1.Protocol {
	if p == "udp" {
		return v1.ProtocolUDP
	}
	return v1.ProtocolTCP
}

// setState moves the status to target, through the seed's table: within a
// run every step must be in it; a new run may start from any state.
func setState(s *v1.TaskStatus, prev, target v1.State, newRun bool, now time.Time) {
	allowed := v1.CanTransition(prev, target)
	if newRun {
		allowed = target == v1.Scheduled || v1.CanTransition(v1.Scheduled, target)
	}
	if !allowed {
		// decide never asks for this; refusing keeps the table authoritative.
		s.State = prev
		s.Message = "refused transition from " + string(prev) + " to " + string(target)
		return
	}
	s.State = target
	if newRun && prev != v1.Scheduled && target != v1.Scheduled {
		// The run began in Scheduled even when no status said so.
		s.Transitions = append(s.Transitions, v1.Transition{From: prev, To: v1.Scheduled, Reason: "NewRun", Time: metaTimeValue(now)})
		prev = v1.Scheduled
	}
	if prev != target {
		s.Transitions = append(s.Transitions, v1.Transition{From: prev, To: target, Reason: s.Reason, Time: metaTimeValue(now)})
	}
	if n := len(s.Transitions); n > maxTransitions {
		s.Transitions = append([]v1.Transition(nil), s.Transitions[n-maxTransitions:]...)
	}
}

// readinessGate is why a running task is not Ready although nothing is
// wrong with its run: a readiness probe that has not succeeded, or a
// startup probe that has not yet. The zero value gates nothing.
type readinessGate struct {
	blocked bool
	message string
}

// ReasonNotReady is the Ready condition's reason while a probe holds a
// running container back.
const ReasonNotReady = "NotReady"

// setConditions derives the conditions from the state and reason, and the
// probes' verdict on a running container.
func setConditions(s *v1.TaskStatus, now time.Time, gate readinessGate) {
	set := func(condType string, ok bool, reason, message string) {
		status := metav1.ConditionFalse
		if ok {
			status = metav1.ConditionTrue
		}
		if reason == "" {
			reason = string(s.State)
		}
		meta.SetStatusCondition(&s.Conditions, metav1.Condition{
			Type: condType, Status: status, Reason: reason, Message: message,
			ObservedGeneration: s.ObservedGeneration, LastTransitionTime: metaTimeValue(now),
		})
	}
	degraded := false
	switch s.Reason {
	case ReasonCrashLoopBackOff, ReasonErrImagePull, ReasonImagePullBackOff, ReasonErrImageNeverPull, ReasonOOMKilled, ReasonError,
		ReasonCreateContainerError, ReasonRunContainerError:
		degraded = true
	}
	ready := s.State == v1.Running && s.Reason == "" && s.ContainerID != ""
	progressing := s.State == v1.Pending || s.State == v1.Scheduled || s.Reason == ReasonContainerMissing || s.Reason == ReasonCreating
	if ready && gate.blocked {
		set(ConditionReady, false, ReasonNotReady, gate.message)
	} else {
		set(ConditionReady, ready, s.Reason, s.Message)
	}
	set(ConditionProgressing, progressing, s.Reason, s.Message)
	set(ConditionDegraded, degraded || s.State == v1.Failed, s.Reason, s.Message)
}
