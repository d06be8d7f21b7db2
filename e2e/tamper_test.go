package e2e

import (
	"context"
	"fmt"
	"maps"
	"os/exec"
	"testing"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/runtime"
)

// TestE2E_Tampering_RepairedAndUnmanagedLeftAlone tampers with managed
// containers the ways an operator at the host can (docker stop, docker
// kill, docker rm -f, docker rename), with --resync 1h so only Docker's
// events can trigger the repair, while a container started by hand with
// every cubelet label copied except the managed one stands beside them.
// Each task must be running in exactly one container again; the
// look-alike must be left running and untouched.
func TestE2E_Tampering_RepairedAndUnmanagedLeftAlone(t *testing.T) {
	e := newEnv(t)
	c := e.start()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	names := []string{"tamper-stop", "tamper-kill", "tamper-rm", "tamper-rename"}
	before := map[string]*v1.Task{}
	for _, name := range names {
		c.put(e.task(name))
	}
	for _, name := range names {
		before[name] = c.waitRunning(name)
	}

	// The look-alike: the labels of tamper-rm's container, minus managed.
	original, err := e.docker.InspectContainer(ctx, before["tamper-rm"].Status.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	labels := maps.Clone(original.Labels)
	delete(labels, controller.LabelManaged)
	intruderID, err := e.docker.CreateContainer(ctx, runtime.ContainerSpec{
		Name: fmt.Sprintf("lookalike-%d", time.Now().UnixNano()), Image: e.image,
		Cmd: []string{"--listen", ":8080"}, Labels: labels,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.docker.RemoveContainer(context.Background(), intruderID) })
	if err := e.docker.StartContainer(ctx, intruderID); err != nil {
		t.Fatal(err)
	}
	intruder, err := e.docker.InspectContainer(ctx, intruderID)
	if err != nil {
		t.Fatal(err)
	}

	docker := func(args ...string) {
		t.Helper()
		if out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput(); err != nil {
			t.Fatalf("docker %v: %v: %s", args, err, out)
		}
	}
	renamed := fmt.Sprintf("renamed-by-hand-%d", time.Now().UnixNano())
	renameBefore, err := e.docker.InspectContainer(ctx, before["tamper-rename"].Status.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	tampered := time.Now()
	if err := e.docker.StopContainer(ctx, before["tamper-stop"].Status.ContainerID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	docker("kill", before["tamper-kill"].Status.ContainerID)
	docker("rm", "-f", before["tamper-rm"].Status.ContainerID)
	docker("rename", before["tamper-rename"].Status.ContainerID, renamed)

	// stop, kill and rm -f: the next attempt is a new container under
	// restartPolicy Always (kubelet's model); each counts as one restart.
	for _, name := range []string{"tamper-stop", "tamper-kill", "tamper-rm"} {
		b := before[name]
		c.waitFor(name, "repaired", 60*time.Second, func(t *v1.Task) bool {
			return t.Status.State == v1.Running && t.Status.Reason == "" && t.Status.ContainerID != "" &&
				t.Status.RestartCount == b.Status.RestartCount+1
		})
	}
	// rename: the container is still the task's (its labels say so), so
	// it is kept running as it is (never renamed back: DESIGN forbids
	// renames) and status follows its new name.
	c.waitFor("tamper-rename", "status follows the new name", 30*time.Second, func(t *v1.Task) bool {
		return t.Status.State == v1.Running && t.Status.ContainerName == renamed
	})
	t.Logf("stop, kill, rm -f and rename repaired within %s", time.Since(tampered).Round(time.Millisecond))

	tasks := e.waitConverged(c, 30*time.Second)
	for _, task := range tasks {
		b := before[task.Name]
		switch task.Name {
		case "tamper-rename":
			if task.Status.ContainerID != b.Status.ContainerID {
				t.Errorf("%s: container replaced (%.12s -> %.12s), want the same one running", task.Name, b.Status.ContainerID, task.Status.ContainerID)
			}
		case "tamper-stop", "tamper-kill":
			if task.Status.ContainerID == b.Status.ContainerID || task.Status.PreviousContainerID != b.Status.ContainerID {
				t.Errorf("%s: current %.12s previous %.12s, want a new attempt after %.12s, kept as the previous one",
					task.Name, task.Status.ContainerID, task.Status.PreviousContainerID, b.Status.ContainerID)
			}
		case "tamper-rm":
			if task.Status.ContainerID == b.Status.ContainerID {
				t.Errorf("%s: status still names the removed container", task.Name)
			}
		}
	}
	renamedNow, err := e.docker.InspectContainer(ctx, renameBefore.ID)
	if err != nil {
		t.Fatal(err)
	}
	if renamedNow.Name != renamed || !renamedNow.StartedAt.Equal(renameBefore.StartedAt) {
		t.Errorf("renamed container: name %s started %s; want %s, not restarted (started %s)",
			renamedNow.Name, renamedNow.StartedAt, renamed, renameBefore.StartedAt)
	}

	now, err := e.docker.InspectContainer(ctx, intruderID)
	if err != nil {
		t.Fatalf("the unmanaged look-alike was removed: %v", err)
	}
	if !now.Running() || !now.StartedAt.Equal(intruder.StartedAt) || now.Name != intruder.Name {
		t.Fatalf("the unmanaged look-alike was touched: %+v, was %+v", now, intruder)
	}
}
