package cube

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// ToV1 converts a Cube task into the v1 task that stores it. A new task
// is named by its UUID (lowercase, a valid DNS-1123 label) and carries it
// as its uid. When existing is given, the result is a copy of it with the
// fields Cube owns replaced: image, ports, resources, restart policy,
// desired state and the Cube annotations; the rest (command, env, labels,
// status, ...) is kept, so a task created through /v1 keeps them.
//
// Task.State says what is asked: Pending or Scheduled to run, Completed to
// stop (see State.Desired). Fields over the bounds of limits.go are
// refused before anything is converted. The result is neither defaulted
// nor validated as a v1 task; the caller does both.
func ToV1(t Task, existing *v1.Task) (*v1.Task, error) {
	if t.ID == uuid.Nil {
		return nil, errors.New("Task.ID is required")
	}
	// Sizes first: nothing below may copy, parse or quote an oversized
	// value.
	if errs := validateLimits(&t); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	desired, err := t.State.Desired()
	if err != nil {
		return nil, fmt.Errorf("Task.State: %w", err)
	}
	ports, err := portsToV1(t.ExposedPorts, t.PortBindings)
	if err != nil {
		return nil, err
	}
	resources, err := resourcesToV1(t.Cpu, t.Memory)
	if err != nil {
		return nil, err
	}
	policy, err := restartPolicyToV1(t.RestartPolicy)
	if err != nil {
		return nil, err
	}

	var out *v1.Task
	if existing != nil {
		out = existing.DeepCopy()
	} else {
		out = &v1.Task{ObjectMeta: metav1.ObjectMeta{
			Name: t.ID.String(),
			UID:  types.UID(t.ID.String()),
		}}
	}
	s := &out.Spec
	s.Image = t.Image
	s.Ports = ports
	s.Resources = resources
	s.RestartPolicy = policy
	s.DesiredState = desired

	a := out.Annotations
	a = setAnnotation(a, AnnotationName, t.Name)
	a = setAnnotation(a, AnnotationHealthCheck, t.HealthCheck)
	disk := ""
	if t.Disk != 0 {
		disk = strconv.FormatInt(t.Disk, 10)
	}
	a = setAnnotation(a, AnnotationDisk, disk)
	given := t.RestartPolicy
	if canonicalRestartPolicy(given) {
		given = ""
	}
	a = setAnnotation(a, AnnotationRestartPolicy, given)
	if len(a) == 0 {
		a = nil
	}
	out.Annotations = a
	return out, nil
}

// FromV1 gives the Cube view of any v1 task, whether it came through the
// Cube API or /v1: its ID is its uid, its State the state of its current
// run, its times zero while unset. A state the store never holds reads as
// Pending.
func FromV1(t *v1.Task) Task {
	state, err := StateFromV1(t.Status.State)
	if err != nil {
		state = Pending
	}
	cpu, memory := resourcesFromV1(t.Spec.Resources)
	exposed, bindings := portsFromV1(t.Spec.Ports)
	name := t.Annotations[AnnotationName]
	if name == "" {
		name = t.Name
	}
	disk, _ := strconv.ParseInt(t.Annotations[AnnotationDisk], 10, 64)
	id, _ := IDOf(t)
	return Task{
		ID:            id,
		ContainerID:   t.Status.ContainerID,
		Name:          name,
		State:         state,
		Image:         t.Spec.Image,
		Cpu:           cpu,
		Memory:        memory,
		Disk:          disk,
		ExposedPorts:  exposed,
		PortBindings:  bindings,
		RestartPolicy: restartPolicyFromV1(t.Spec.RestartPolicy, t.Annotations[AnnotationRestartPolicy]),
		StartTime:     timeOf(t.Status.StartTime),
		FinishTime:    timeOf(t.Status.FinishTime),
		HostPorts:     hostPortsFromV1(t.Status.HostPorts),
		HealthCheck:   t.Annotations[AnnotationHealthCheck],
		RestartCount:  int(t.Status.RestartCount),
	}
}

// IDOf returns the Cube ID of a v1 task, its uid. It reports false for a
// uid that is not a UUID (the store makes every uid a UUID).
func IDOf(t *v1.Task) (uuid.UUID, bool) {
	id, err := uuid.Parse(string(t.UID))
	if err != nil {
		return uuid.Nil, false
	}
	return id, true
}

// timeOf is t in UTC, or Go's zero time, which Cube sends for "never".
func timeOf(t *metav1.Time) time.Time {
	if t == nil || t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}
