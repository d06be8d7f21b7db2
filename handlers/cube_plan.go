package handlers

import (
	"net/http"
	"strings"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cubelet/cubelet/apis/cube"
	v1 "github.com/cubelet/cubelet/apis/v1"
)

// annotationCubeEvent records the ID of the last TaskEvent applied to a
// task, so that a manager retrying a POST whose answer it lost does not
// restart the task a second time.
const annotationCubeEvent = "cube.cubelet.io/event-id"

// The decisions of the Cube API are pure functions of the stored task and
// the request, so tests drive every row without a store. Each returns the
// task to write, nil when nothing needs writing, or an API error.
//
// The seed's transition table (apis/v1/states.go) is checked against the
// state of the task's current run, row by row:
//
//	current    Scheduled (run) request            Completed (stop) request
//	Pending    update the spec, run as planned    stop (Pending→Completed)
//	Scheduled  update the spec, run as planned    stop (Scheduled→Completed)
//	Running    new run: restartGeneration+1       stop (Running→Completed)
//	Completed  409: no way out of Completed       keep it stopped
//	Failed     new run: restartGeneration+1       keep it stopped (stays Failed)
//
// Running→Scheduled and Failed→Scheduled are the rows Cube's manager uses
// to restart a task; the controller counts status.restartCount. The
// manager is the one restart authority of the tasks it posts (every one
// carries v1.AnnotationRestartAuthority): cubelet reports their exits as
// Failed and never restarts them itself, so each restart is one the
// manager sent, and both sides count the same.

// planCreate is the task to create for a TaskEvent about an unknown ID.
func planCreate(te cube.TaskEvent) (*v1.Task, error) {
	if err := checkTaskEvent(te); err != nil {
		return nil, err
	}
	if te.Task.State == cube.Completed {
		return nil, cubeError(http.StatusNotFound, "task %s not found: there is nothing to stop", te.Task.ID)
	}
	next, err := cube.ToV1(te.Task, nil)
	if err != nil {
		return nil, cubeError(http.StatusBadRequest, "%v", err)
	}
	next.Finalizers = []string{v1.FinalizerContainers}
	next.Status = v1.TaskStatus{State: v1.Pending}
	markManagerRestarts(next)
	setHealthCheckProbe(next, te.Task.HealthCheck)
	markEvent(next, te.ID)
	if err := admitCubeTask(next); err != nil {
		return nil, err
	}
	return next, nil
}

// planEvent is the change a TaskEvent makes to the stored task cur.
func planEvent(cur *v1.Task, te cube.TaskEvent) (*v1.Task, error) {
	if err := checkTaskEvent(te); err != nil {
		return nil, err
	}
	if te.ID != uuid.Nil && cur.Annotations[annotationCubeEvent] == te.ID.String() {
		return nil, nil // a retry of the event last applied
	}
	desired, err := te.Task.State.Desired()
	if err != nil {
		return nil, cubeError(http.StatusBadRequest, "Task.State: %v", err)
	}
	if desired == v1.Completed {
		return planStop(cur)
	}
	if err := checkNotDeleting(cur); err != nil {
		return nil, err
	}
	from := currentState(cur)
	if !v1.CanTransition(from, v1.Scheduled) {
		return nil, cubeError(http.StatusConflict,
			"task %s is %s and the seed's transition table has no way from %s to Scheduled: post a new task (a new ID) to run it again",
			te.Task.ID, from, from)
	}
	next, err := cube.ToV1(te.Task, cur)
	if err != nil {
		return nil, cubeError(http.StatusBadRequest, "%v", err)
	}
	if from == v1.Running || from == v1.Failed {
		next.Spec.RestartGeneration++
	}
	markManagerRestarts(next)
	setHealthCheckProbe(next, te.Task.HealthCheck)
	markEvent(next, te.ID)
	if err := admitCubeTask(next); err != nil {
		return nil, err
	}
	return next, nil
}

// planStop is the change that stops cur: desiredState Completed. It keeps
// the spec as it is, so a stop never replaces a container. A Failed task
// takes the stop too and stays Failed (the table has no Failed→Completed,
// and nothing runs to be stopped): the stop then says that nothing may
// start it again short of a new run request, so it wins over any retry.
func planStop(cur *v1.Task) (*v1.Task, error) {
	if err := checkNotDeleting(cur); err != nil {
		return nil, err
	}
	from := currentState(cur)
	if from != v1.Failed && !v1.CanTransition(from, v1.Completed) {
		return nil, cubeError(http.StatusConflict,
			"task %s is %s and the seed's transition table has no way from %s to Completed: its container has already stopped",
			cubeID(cur), from, from)
	}
	if cur.Spec.DesiredState == v1.Completed {
		return nil, nil
	}
	next := cur.DeepCopy()
	next.Spec.DesiredState = v1.Completed
	return next, nil
}

// checkTaskEvent refuses what no Cube manager sends.
func checkTaskEvent(te cube.TaskEvent) error {
	if !te.State.Valid() {
		return cubeError(http.StatusBadRequest, "TaskEvent.State %d is not a Cube state (0 Pending to 4 Failed)", int(te.State))
	}
	if te.Task.ID == uuid.Nil {
		return cubeError(http.StatusBadRequest, "Task.ID is required")
	}
	if _, err := te.Task.State.Desired(); err != nil {
		return cubeError(http.StatusBadRequest, "Task.State: %v", err)
	}
	return nil
}

func checkNotDeleting(cur *v1.Task) error {
	if cur.DeletionTimestamp != nil {
		return cubeError(http.StatusConflict, "task %s is being deleted", cubeID(cur))
	}
	return nil
}

// currentState is the state of cur's current run; a task the controller
// has not looked at yet is Pending.
func currentState(cur *v1.Task) v1.State {
	if cur.Status.State == "" {
		return v1.Pending
	}
	return cur.Status.State
}

func cubeID(t *v1.Task) string {
	if id, ok := cube.IDOf(t); ok {
		return id.String()
	}
	return t.Name
}

// markManagerRestarts hands t's restarts to the Cube manager that posts it
// (docs/cube-compat.md, "One restart authority").
func markManagerRestarts(t *v1.Task) {
	if t.Annotations == nil {
		t.Annotations = map[string]string{}
	}
	t.Annotations[v1.AnnotationRestartAuthority] = v1.RestartAuthorityCubeManager
}

// setHealthCheckProbe makes Cube's HealthCheck path t's readiness probe:
// an HTTP GET of the path on the lowest exposed TCP port, the check the
// manager makes through that port's host port. It restarts nothing (the
// manager is the one restart authority and acts on its own check); it
// shows in the Ready condition whether the manager's check would pass. A
// path that is not an absolute URL path, or a task that exposes no TCP
// port, gets none. It replaces the probe each time, so a HealthCheck
// removed by the manager removes it.
func setHealthCheckProbe(t *v1.Task, path string) {
	t.Spec.ReadinessProbe = nil
	if !strings.HasPrefix(path, "/") || len(path) > v1.MaxProbePathLength || strings.ContainsAny(path, " \t\r\n\x00") {
		return // not a path a probe may take; the manager's own check is unaffected
	}
	for _, p := range t.Spec.Ports { // sorted by ToV1
		if p.Protocol == v1.ProtocolTCP || p.Protocol == "" {
			t.Spec.ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{
				Path: path, Port: intstr.FromInt32(p.ContainerPort),
			}}}
			return
		}
	}
}

// markEvent records the event applied to t (nothing for the nil ID a
// hand-written request may carry).
func markEvent(t *v1.Task, event uuid.UUID) {
	if event == uuid.Nil {
		return
	}
	if t.Annotations == nil {
		t.Annotations = map[string]string{}
	}
	t.Annotations[annotationCubeEvent] = event.String()
}

// admitCubeTask defaults and validates a converted task; the causes of an
// invalid one go into the 400's message.
func admitCubeTask(t *v1.Task) error {
	v1.SetDefaults(t)
	if errs := validateAdmission(t); len(errs) > 0 {
		return cubeError(http.StatusBadRequest, "invalid task: %v", errs.ToAggregate())
	}
	return nil
}
