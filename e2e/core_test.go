package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/runtime"
)

func TestE2E_PutTask_RunsLabelledContainer_AndSamePutChangesNothing(t *testing.T) {
	e := newEnv(t)
	c := e.start()

	created, code := c.put(e.task("web"))
	if code != http.StatusCreated {
		t.Fatalf("first PUT = %d, want 201", code)
	}
	task := c.waitRunning("web")
	cs := e.containers("web")
	if len(cs) != 1 || !cs[0].Running() {
		t.Fatalf("containers = %+v, want one running", cs)
	}
	for k, want := range map[string]string{controller.LabelManaged: "true", controller.LabelTask: "web",
		controller.LabelTaskUID: string(created.UID)} {
		if cs[0].Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, cs[0].Labels[k], want)
		}
	}
	if cs[0].Labels[controller.LabelSpecHash] == "" {
		t.Error("container has no spec-hash label")
	}
	if task.Status.ContainerID != cs[0].ID {
		t.Errorf("status.containerID = %s, want %s", task.Status.ContainerID, cs[0].ID)
	}

	again, code := c.put(e.task("web"))
	if code != http.StatusOK || again.Generation != task.Generation {
		t.Fatalf("same PUT: code %d generation %d, want 200 and generation %d", code, again.Generation, task.Generation)
	}
	after := c.waitRunning("web")
	if after.Status.ContainerID != task.Status.ContainerID {
		t.Fatalf("same PUT replaced the container: %s -> %s", task.Status.ContainerID, after.Status.ContainerID)
	}

	changed, _ := c.put(e.task("web", func(t *v1.Task) { t.Spec.Env = []v1.EnvVar{{Name: "COLOR", Value: "blue"}} }))
	if changed.Generation != task.Generation+1 {
		t.Fatalf("changed spec: generation %d, want %d", changed.Generation, task.Generation+1)
	}
	replaced := c.waitFor("web", "replaced", 60*time.Second, func(t *v1.Task) bool {
		return t.Status.State == v1.Running && t.Status.ObservedGeneration == changed.Generation &&
			t.Status.ContainerID != "" && t.Status.ContainerID != task.Status.ContainerID
	})
	// The old container is stopped and kept as the previous one (for
	// logs --previous) until the attempt after the new one starts.
	eventually(t, 30*time.Second, "old container stopped, kept as the previous one", func() (bool, string) {
		cs := e.containers("web")
		running, stopped := 0, 0
		for _, c := range cs {
			switch {
			case c.Running() && c.ID == replaced.Status.ContainerID:
				running++
			case !c.Running() && c.ID == task.Status.ContainerID:
				stopped++
			}
		}
		got := c.waitRunning("web")
		return len(cs) == 2 && running == 1 && stopped == 1 && got.Status.PreviousContainerID == task.Status.ContainerID,
			fmt.Sprintf("%d containers, %d running, %d stopped", len(cs), running, stopped)
	})
}

func TestE2E_DesiredCompleted_Stops_ThenDeleteRemovesContainerAndObject(t *testing.T) {
	e := newEnv(t)
	c := e.start()
	c.put(e.task("job"))
	running := c.waitRunning("job")

	c.put(e.task("job", func(t *v1.Task) { t.Spec.DesiredState = v1.Completed }))
	c.waitFor("job", "Completed", 60*time.Second, func(t *v1.Task) bool { return t.Status.State == v1.Completed })
	eventually(t, 30*time.Second, "container stopped", func() (bool, string) {
		cs := e.containers("job")
		return len(cs) == 1 && !cs[0].Running() && cs[0].ID == running.Status.ContainerID, fmt.Sprintf("%+v", cs)
	})

	var deleted v1.Task
	code := c.do(http.MethodDelete, "/v1/tasks/job", nil, &deleted)
	if code != http.StatusOK && code != http.StatusAccepted {
		t.Fatalf("DELETE = %d", code)
	}
	eventually(t, 60*time.Second, "task object gone", func() (bool, string) {
		_, code := c.get("job")
		return code == http.StatusNotFound, fmt.Sprint(code)
	})
	if cs := e.containers("job"); len(cs) != 0 {
		t.Fatalf("containers left after delete: %+v", cs)
	}
}

func TestE2E_ContainerRemovedFromOutside_IsRecreatedByTheEvent(t *testing.T) {
	e := newEnv(t)
	c := e.start() // --resync 1h: only the Docker event can bring it back in time
	c.put(e.task("web"))
	first := c.waitRunning("web")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	removedAt := time.Now()
	if err := e.docker.RemoveContainer(ctx, first.Status.ContainerID); err != nil {
		t.Fatal(err)
	}
	again := c.waitFor("web", "recreated", 30*time.Second, func(t *v1.Task) bool {
		return t.Status.State == v1.Running && t.Status.ContainerID != "" && t.Status.ContainerID != first.Status.ContainerID && t.Status.Reason == ""
	})
	t.Logf("recreated in %s", time.Since(removedAt).Round(time.Millisecond))
	if again.Status.RestartCount != first.Status.RestartCount+1 {
		t.Errorf("restartCount = %d, want %d", again.Status.RestartCount, first.Status.RestartCount+1)
	}
	if !hasLogLine(c.logs.String(), func(l map[string]any) bool {
		return l["task"] == "web" && l["action"] == "create" && strings.HasPrefix(fmt.Sprint(l["trigger"]), "docker-event")
	}) {
		t.Fatalf("no create logged with a docker-event trigger:\n%s", tail(c.logs.String(), 30))
	}
}

func TestE2E_Kill9WhileConverging_RestartConvergesWithoutDuplicates(t *testing.T) {
	e := newEnv(t)
	c := e.start("--workers", "4")
	const n = 20
	for i := 0; i < n; i++ {
		c.put(e.task(fmt.Sprintf("crash-%d", i)))
	}
	// Kill as soon as some containers exist, while the rest converge.
	eventually(t, 60*time.Second, "some containers", func() (bool, string) {
		cs, err := e.docker.ListContainers(context.Background(), controller.LabelManaged, "true")
		return err == nil && len(cs) >= 3, fmt.Sprint(len(cs), err)
	})
	c.kill9()

	c2 := e.start("--workers", "4")
	for i := 0; i < n; i++ {
		c2.waitRunning(fmt.Sprintf("crash-%d", i))
	}
	assertOneContainerPerTask(t, e, "crash-", n)
}

func TestE2E_FiftyTasksAtOnce_FourWorkers_AllConverge(t *testing.T) {
	e := newEnv(t)
	c := e.start("--workers", "4")
	const n = 50
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c.put(e.task(fmt.Sprintf("bulk-%d", i)))
		}(i)
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		c.waitFor(fmt.Sprintf("bulk-%d", i), "Running", 3*time.Minute, func(t *v1.Task) bool {
			return t.Status.State == v1.Running && t.Status.ContainerID != ""
		})
	}
	assertOneContainerPerTask(t, e, "bulk-", n)
}

func TestE2E_UnmanagedContainer_IsNeverTouched(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A container wearing a copied task label but not the managed label.
	id, err := e.docker.CreateContainer(ctx, runtime.ContainerSpec{
		Name: fmt.Sprintf("intruder-%d", time.Now().UnixNano()), Image: e.image, Cmd: []string{"--listen", ":8080"},
		Labels: map[string]string{controller.LabelTask: "web"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.docker.RemoveContainer(context.Background(), id) })
	if err := e.docker.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}

	c := e.start()
	c.put(e.task("web"))
	c.waitRunning("web")
	c.do(http.MethodDelete, "/v1/tasks/web", nil, nil)
	eventually(t, 60*time.Second, "task gone", func() (bool, string) {
		_, code := c.get("web")
		return code == http.StatusNotFound, fmt.Sprint(code)
	})
	intruder, err := e.docker.InspectContainer(ctx, id)
	if err != nil {
		t.Fatalf("unmanaged container vanished: %v", err)
	}
	if !intruder.Running() {
		t.Fatalf("unmanaged container was stopped: %s", intruder.State)
	}
}

func TestE2E_SIGTERM_ExitsZeroAndLeavesContainersRunning(t *testing.T) {
	e := newEnv(t)
	c := e.start()
	c.put(e.task("keep"))
	before := c.waitRunning("keep")
	if err := c.stop(); err != nil {
		t.Fatalf("cubelet exit after SIGTERM: %v\n%s", err, tail(c.logs.String(), 20))
	}
	cs := e.containers("keep")
	if len(cs) != 1 || !cs[0].Running() {
		t.Fatalf("after shutdown containers = %+v, want one running", cs)
	}
	// The next start adopts it without a restart.
	c2 := e.start()
	after := c2.waitRunning("keep")
	if after.Status.ContainerID != before.Status.ContainerID || after.Status.RestartCount != before.Status.RestartCount {
		t.Fatalf("restart of cubelet touched the container: %+v -> %+v", before.Status, after.Status)
	}
}

func assertOneContainerPerTask(t *testing.T, e *env, prefix string, n int) {
	t.Helper()
	cs, err := e.docker.ListContainers(context.Background(), controller.LabelManaged, "true")
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, c := range cs {
		per[c.Labels[controller.LabelTask]]++
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s%d", prefix, i)
		if per[name] != 1 {
			t.Errorf("task %s has %d containers, want 1", name, per[name])
		}
		delete(per, name)
	}
	if len(per) != 0 {
		t.Errorf("orphan containers: %v", per)
	}
}

// hasLogLine reports whether a JSON log line satisfies match.
func hasLogLine(logs string, match func(map[string]any) bool) bool {
	for _, line := range strings.Split(logs, "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) == nil && match(l) {
			return true
		}
	}
	return false
}
