package cube

import (
	"fmt"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// State is Cube's task state, an integer on the wire.
type State int

// Cube's five states, in Cube's order.
const (
	Pending State = iota
	Scheduled
	Running
	Completed
	Failed
)

// Valid reports whether s is one of the five states.
func (s State) Valid() bool { return s >= Pending && s <= Failed }

// String returns the state's name, which is also its v1 spelling.
func (s State) String() string {
	if !s.Valid() {
		return fmt.Sprintf("State(%d)", int(s))
	}
	return string(v1.States[s])
}

// V1 returns the v1 state of the same name. s must be Valid.
func (s State) V1() v1.State { return v1.States[s] }

// Desired is the spec.desiredState a worker is asked for by a task posted
// in state s. Cube's manager posts Scheduled (Pending from a hand-written
// task file) to run a task and Completed to stop it. Running and Failed are
// what a worker reports, never what a manager asks for, so they are
// refused, as Cube's own worker refuses them ("we should not get here").
func (s State) Desired() (v1.State, error) {
	switch s {
	case Pending, Scheduled:
		return v1.Running, nil
	case Completed:
		return v1.Completed, nil
	case Running, Failed:
		return "", fmt.Errorf("task state %s (%d) is reported by a worker, not requested of it: post %s (%d) to run a task or %s (%d) to stop it",
			s, int(s), Scheduled, int(Scheduled), Completed, int(Completed))
	default:
		return "", fmt.Errorf("unknown task state %d: Cube's states are %d (Pending) to %d (Failed)", int(s), int(Pending), int(Failed))
	}
}

// StateFromV1 returns the Cube state named by a v1 state. The empty state
// of a task the controller has not looked at yet is Pending.
func StateFromV1(s v1.State) (State, error) {
	if s == "" {
		return Pending, nil
	}
	for i, name := range v1.States {
		if name == s {
			return State(i), nil
		}
	}
	return 0, fmt.Errorf("unknown task state %q", s)
}
