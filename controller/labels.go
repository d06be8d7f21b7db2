package controller

import (
	"fmt"
	"strconv"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
)

// Labels cubelet puts on every container it creates. They are the durable
// record of what cubelet did: after a crash the controller re-derives which
// run a container belongs to, which attempt it is and whom it belongs to from
// them, never from memory. A container is this cubelet's only when it
// carries LabelManaged=true and LabelInstance=<this instance>; any other
// container, whatever its other labels say, is foreign and never touched.
const (
	LabelManaged           = "io.cubelet.managed"
	LabelInstance          = "io.cubelet.instance"
	LabelTask              = "io.cubelet.task"
	LabelTaskUID           = "io.cubelet.task-uid"
	LabelSpecHash          = "io.cubelet.spec-hash"
	LabelRestartGeneration = "io.cubelet.restart-generation"
	// LabelGeneration is the task generation whose run the container was
	// made for: "this run already ran" is read from it.
	LabelGeneration = "io.cubelet.generation"
	// LabelAttempt is the task's restart count when the container was
	// made: each restart is a new container with the next attempt, so
	// status.restartCount is derived from it.
	LabelAttempt = "io.cubelet.attempt"

	managedValue = "true"
)

// containerLabels are the ownership and identity labels of the container for
// attempt of task's current run.
func containerLabels(instance string, task *v1.Task, hash string, attempt int32) map[string]string {
	return map[string]string{
		LabelManaged:           managedValue,
		LabelInstance:          instance,
		LabelTask:              task.Name,
		LabelTaskUID:           string(task.UID),
		LabelSpecHash:          hash,
		LabelRestartGeneration: strconv.FormatInt(task.Spec.RestartGeneration, 10),
		LabelGeneration:        strconv.FormatInt(task.Generation, 10),
		LabelAttempt:           strconv.FormatInt(int64(attempt), 10),
	}
}

// containerName is deterministic per instance, task incarnation, run and
// attempt: a crash between create and the status write meets the same name
// again (a conflict, then adopt) instead of making a second container, and a
// replacement always has a name of its own, so nothing is ever renamed into
// place. The instance prefix keeps two cubelets on one daemon apart even
// when they hold tasks of the same name.
func containerName(instance string, task *v1.Task, attempt int32) string {
	return fmt.Sprintf("cubelet-%s-%s-%s-%d.%d", short(instance), task.Name, short(string(task.UID)), task.Generation, attempt)
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// ownedBy reports whether c is a container of this instance at all.
func ownedBy(instance string, c *runtime.Container) bool {
	return c.Labels[LabelManaged] == managedValue && c.Labels[LabelInstance] == instance
}

// runOf is the generation c was made for; -1 when unlabelled.
func runOf(c *runtime.Container) int64 {
	n, err := strconv.ParseInt(c.Labels[LabelGeneration], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// attemptOf is c's attempt; -1 when unlabelled.
func attemptOf(c *runtime.Container) int32 {
	n, err := strconv.ParseInt(c.Labels[LabelAttempt], 10, 32)
	if err != nil {
		return -1
	}
	return int32(n)
}
