package v1

import "fmt"

// State is the seed's state of a task run.
type State string

// The seed's five states. Pending is a task cubelet has stored but not yet
// acted on; Scheduled, one it is bringing up; the rest name the run's fate.
const (
	Pending   State = "Pending"
	Scheduled State = "Scheduled"
	Running   State = "Running"
	Completed State = "Completed"
	Failed    State = "Failed"
)

// States lists the states in the seed's order (Cube encodes them as 0..4).
var States = []State{Pending, Scheduled, Running, Completed, Failed}

// stateTransitions is the seed's transition table, the one place it is
// enforced. It governs one run; a new generation starts a new run from
// Scheduled (see StartRun). Three rows differ from the book on purpose, all
// documented in docs/api.md: Pending and Scheduled may go to Completed, since
// a task can be stopped before its container ever ran (Cube's worker stops
// such tasks too, without consulting the table); and Pending may go to
// Failed, for a run the scheduler ends with ReasonNodeLost: a Pending status
// does not prove the container never started (the controller skips the
// transient status write after a create and start), so a lost node's
// Pending job may have run and must end rather than wait or run again.
var stateTransitions = map[State][]State{
	Pending:   {Scheduled, Completed, Failed},
	Scheduled: {Scheduled, Running, Completed, Failed},
	Running:   {Running, Completed, Failed, Scheduled},
	Completed: {},
	Failed:    {Scheduled},
}

// ValidState reports whether s is one of the five states.
func ValidState(s State) bool {
	_, ok := stateTransitions[s]
	return ok
}

// CanTransition reports whether a run may go from one state to another.
// Staying in a state is always allowed.
func CanTransition(from, to State) bool {
	if from == to {
		return true
	}
	for _, s := range stateTransitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// CheckTransition is CanTransition as an error for callers that report it.
func CheckTransition(from, to State) error {
	if !CanTransition(from, to) {
		return fmt.Errorf("invalid state transition from %s to %s", from, to)
	}
	return nil
}

// Terminal reports whether a run in state s has ended.
func (s State) Terminal() bool { return s == Completed || s == Failed }
