package controller

import (
	"fmt"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// Labels cubelet puts on every container it creates. A container without
// LabelManaged=true is never touched, whatever its other labels say.
const (
	LabelManaged           = "io.cubelet.managed"
	LabelTask              = "io.cubelet.task"
	LabelTaskUID           = "io.cubelet.task-uid"
	LabelSpecHash          = "io.cubelet.spec-hash"
	LabelRestartGeneration = "io.cubelet.restart-generation"

	managedValue = "true"
)

// containerLabels are the ownership labels of a task's container.
func containerLabels(task *v1.Task, hash string) map[string]string {
	return map[string]string{
		LabelManaged:           managedValue,
		LabelTask:              task.Name,
		LabelTaskUID:           string(task.UID),
		LabelSpecHash:          hash,
		LabelRestartGeneration: fmt.Sprint(task.Spec.RestartGeneration),
	}
}

// containerName is deterministic per task and spec: a crash between create
// and the status write finds the same name again (a conflict, then adopt)
// instead of making a second container. A spec change yields a new name, so
// a replacement never has to be renamed into place.
func containerName(task *v1.Task, hash string) string {
	return fmt.Sprintf("cubelet-%s-%s", task.Name, hash)
}
