package handlers

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/google/uuid"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cubelet/cubelet/apis/cube"
	v1 "github.com/cubelet/cubelet/apis/v1"
)

func storedCubeTask(t *testing.T, state v1.State, desired v1.State) *v1.Task {
	t.Helper()
	next, err := planCreate(cube.TaskEvent{ID: uuid.New(), Task: cube.Task{ID: uuid.MustParse(cubeTaskID), State: cube.Scheduled, Image: "nginx"}})
	if err != nil {
		t.Fatal(err)
	}
	next.Status.State = state
	next.Spec.DesiredState = desired
	next.ResourceVersion = "5"
	return next
}

func event(state cube.State) cube.TaskEvent {
	return cube.TaskEvent{ID: uuid.New(), Task: cube.Task{ID: uuid.MustParse(cubeTaskID), State: state, Image: "nginx"}}
}

// TestPlanEvent_SeedTable drives every row of the seed's table for the two
// requests a manager makes.
func TestPlanEvent_SeedTable(t *testing.T) {
	const (
		write    = "write"
		noop     = "no-op"
		conflict = "409"
	)
	for _, tc := range []struct {
		from, desired v1.State
		request       cube.State
		want          string
		wantDesired   v1.State
		wantRestart   int64
	}{
		{v1.Pending, v1.Running, cube.Scheduled, write, v1.Running, 0},
		{v1.Pending, v1.Completed, cube.Scheduled, write, v1.Running, 0},
		{v1.Scheduled, v1.Running, cube.Scheduled, write, v1.Running, 0},
		{v1.Running, v1.Running, cube.Scheduled, write, v1.Running, 1},
		{v1.Running, v1.Completed, cube.Scheduled, write, v1.Running, 1},
		{v1.Failed, v1.Running, cube.Scheduled, write, v1.Running, 1},
		{v1.Completed, v1.Running, cube.Scheduled, conflict, "", 0},
		{v1.Completed, v1.Completed, cube.Pending, conflict, "", 0},

		{v1.Pending, v1.Running, cube.Completed, write, v1.Completed, 0},
		{v1.Scheduled, v1.Running, cube.Completed, write, v1.Completed, 0},
		{v1.Running, v1.Running, cube.Completed, write, v1.Completed, 0},
		{v1.Running, v1.Completed, cube.Completed, noop, "", 0},
		{v1.Completed, v1.Running, cube.Completed, write, v1.Completed, 0},
		{v1.Completed, v1.Completed, cube.Completed, noop, "", 0},
		{v1.Failed, v1.Running, cube.Completed, write, v1.Completed, 0},
		{v1.Failed, v1.Completed, cube.Completed, noop, "", 0},
	} {
		t.Run(fmt.Sprintf("%s(desired %s)+%s", tc.from, tc.desired, tc.request), func(t *testing.T) {
			cur := storedCubeTask(t, tc.from, tc.desired)
			next, err := planEvent(cur, event(tc.request))
			switch tc.want {
			case conflict:
				if !apierrors.IsConflict(err) {
					t.Fatalf("got %v, %v; want 409", next, err)
				}
				return
			case noop:
				if err != nil || next != nil {
					t.Fatalf("got %v, %v; want nothing to write", next, err)
				}
				return
			}
			if err != nil || next == nil {
				t.Fatalf("got %v, %v; want a write", next, err)
			}
			if next.Spec.DesiredState != tc.wantDesired || next.Spec.RestartGeneration != tc.wantRestart {
				t.Errorf("desiredState %s, restartGeneration %d; want %s, %d",
					next.Spec.DesiredState, next.Spec.RestartGeneration, tc.wantDesired, tc.wantRestart)
			}
			if next.Status.State != tc.from || next.ResourceVersion != "5" {
				t.Errorf("plan changed status or resourceVersion: %+v", next)
			}
			if cur.Spec.DesiredState != tc.desired || cur.Spec.RestartGeneration != 0 {
				t.Error("plan changed the stored object")
			}
		})
	}
}

func TestPlanEvent_SameEventTwice_AppliesOnce(t *testing.T) {
	cur := storedCubeTask(t, v1.Running, v1.Running)
	ev := event(cube.Scheduled)
	next, err := planEvent(cur, ev)
	if err != nil || next == nil {
		t.Fatalf("first: %v, %v", next, err)
	}
	if again, err := planEvent(next, ev); err != nil || again != nil {
		t.Errorf("retry: %v, %v; want nothing to write", again, err)
	}
}

func TestPlanEvent_BeingDeleted_409(t *testing.T) {
	cur := storedCubeTask(t, v1.Running, v1.Running)
	now := metav1.Now()
	cur.DeletionTimestamp = &now
	for _, s := range []cube.State{cube.Scheduled, cube.Completed} {
		if _, err := planEvent(cur, event(s)); !apierrors.IsConflict(err) {
			t.Errorf("%s: err = %v; want 409", s, err)
		}
	}
}

func TestPlanCreate(t *testing.T) {
	next, err := planCreate(event(cube.Scheduled))
	if err != nil {
		t.Fatal(err)
	}
	if next.Name != cubeTaskID || next.Status.State != v1.Pending || next.Spec.DesiredState != v1.Running ||
		next.APIVersion != v1.APIVersion || next.Annotations[annotationCubeEvent] == "" {
		t.Errorf("planCreate = %+v", next)
	}
	_, err = planCreate(event(cube.Completed))
	if st, ok := err.(apierrors.APIStatus); !ok || st.Status().Code != http.StatusNotFound {
		t.Errorf("stop of an unknown task: %v; want 404", err)
	}
}

func TestPlanCreate_HealthCheck_IsAReadinessProbeOnTheLowestTCPPort(t *testing.T) {
	for _, tc := range []struct {
		name, healthCheck string
		ports             cube.PortSet
		wantPort          int32 // 0: no probe
	}{
		{"path and ports", "/health", cube.PortSet{"9000/tcp": {}, "53/udp": {}, "8080/tcp": {}}, 8080},
		{"no path", "", cube.PortSet{"8080/tcp": {}}, 0},
		{"no TCP port", "/health", cube.PortSet{"53/udp": {}}, 0},
		{"not a path", "health check", cube.PortSet{"8080/tcp": {}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := event(cube.Scheduled)
			te.Task.HealthCheck, te.Task.ExposedPorts = tc.healthCheck, tc.ports
			next, err := planCreate(te)
			if err != nil {
				t.Fatalf("planCreate: %v", err)
			}
			p := next.Spec.ReadinessProbe
			switch {
			case tc.wantPort == 0 && p != nil:
				t.Fatalf("readiness probe %+v, want none", p)
			case tc.wantPort != 0 && (p == nil || p.HTTPGet == nil || p.HTTPGet.Port.IntVal != tc.wantPort || p.HTTPGet.Path != tc.healthCheck):
				t.Fatalf("readiness probe %+v, want GET %s on %d", p, tc.healthCheck, tc.wantPort)
			case p != nil && next.Spec.LivenessProbe != nil:
				t.Fatal("a liveness probe would make cubelet a second restart authority")
			}
		})
	}
}
