package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/runtime"
)

// Durable identity (issue 10): what cubelet did and what it owns is read
// from the containers' labels, so kill -9 at any moment, an empty store or a
// second cubelet on the same daemon can neither repeat a run nor touch a
// container that is not this instance's.

// eventLog records the engine's events of managed containers from the
// moment it is made, to count what Docker really did.
type eventLog struct {
	mu     sync.Mutex
	events []runtime.Event
	err    error
}

func (e *env) recordEvents() *eventLog {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events, errs := e.docker.Events(ctx, controller.LabelManaged, "true")
	l := &eventLog{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range events {
			l.mu.Lock()
			l.events = append(l.events, ev)
			l.mu.Unlock()
		}
		err := <-errs
		l.mu.Lock()
		if err != nil && ctx.Err() == nil {
			l.err = err
		}
		l.mu.Unlock()
	}()
	e.t.Cleanup(func() { cancel(); <-done })
	return l
}

// count returns, per task label, how many events of action were seen.
func (l *eventLog) count(t *testing.T, action runtime.EventAction) map[string]int {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		t.Fatalf("docker event stream broke, the count would be wrong: %v", l.err)
	}
	out := map[string]int{}
	for _, ev := range l.events {
		if ev.Action == action {
			out[ev.Labels[controller.LabelTask]]++
		}
	}
	return out
}

// rawGet returns the status and body of a GET.
func (c *cubelet) rawGet(path string) (int, string) {
	c.t.Helper()
	resp, err := http.Get(c.base + path)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// TestE2E_Identity_NeverJobsKilledRightAfterStart_EachRunsOnce kills
// cubelet with SIGKILL as soon as a round's job containers start, three
// rounds, and counts Docker's start events: each Never job runs once.
func TestE2E_Identity_NeverJobsKilledRightAfterStart_EachRunsOnce(t *testing.T) {
	const rounds, jobs = 3, 12
	e := newEnv(t)
	events := e.recordEvents()
	flags := []string{"--workers", "8"}
	c := e.start(flags...)
	var names []string
	for round := range rounds {
		for i := range jobs {
			name := fmt.Sprintf("job-%d-%d", round, i)
			names = append(names, name)
			c.put(e.task(name, func(t *v1.Task) {
				t.Spec.Args = []string{"--exit-after", "1500ms"}
				t.Spec.RestartPolicy = v1.RestartNever
			}))
		}
		prefix := fmt.Sprintf("job-%d-", round)
		eventually(t, 60*time.Second, "three of the round's containers running", func() (bool, string) {
			running := 0
			for _, ct := range e.managed() {
				if strings.HasPrefix(ct.Labels[controller.LabelTask], prefix) && ct.Running() {
					running++
				}
			}
			return running >= 3, fmt.Sprintf("%d running", running)
		})
		c.kill9()
		c = e.start(flags...)
	}
	for _, name := range names {
		c.waitFor(name, "Completed", 90*time.Second, func(t *v1.Task) bool {
			return t.Status.State == v1.Completed && t.Status.ObservedGeneration == t.Generation
		})
	}
	starts := events.count(t, runtime.EventStart)
	for _, name := range names {
		if starts[name] != 1 {
			t.Errorf("job %s was started %d times, want exactly once", name, starts[name])
		}
		if cs := e.containers(name); len(cs) != 1 {
			t.Errorf("job %s has %d containers, want 1", name, len(cs))
		}
	}
}

// TestE2E_Identity_CrashLoopAcrossKill9_RestartCountIsExact kills cubelet
// four times at random moments of a crash loop: restartCount still equals
// Docker's starts minus one, and logs --previous shows the attempt before
// the last.
func TestE2E_Identity_CrashLoopAcrossKill9_RestartCountIsExact(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	t.Logf("seed %d", seed)
	e := newEnv(t)
	events := e.recordEvents()
	c := e.start()
	c.put(e.task("loop", func(t *v1.Task) {
		t.Spec.Args = []string{"--exit-after", "300ms", "--exit-code", "1"}
	}))
	for range 4 {
		eventually(t, 60*time.Second, "the loop to have started", func() (bool, string) {
			n := events.count(t, runtime.EventStart)["loop"]
			return n > 0, fmt.Sprint(n)
		})
		// The kill lands at a random moment of the loop: during a run,
		// an exit, a back-off or a create.
		killAt := time.After(time.Duration(rng.IntN(1500)) * time.Millisecond)
		<-killAt
		c.kill9()
		c = e.start()
	}
	// The same spec with desiredState Completed, unconditionally: a
	// resourceVersion read here would race the controller's status writes.
	c.put(e.task("loop", func(t *v1.Task) {
		t.Spec.Args = []string{"--exit-after", "300ms", "--exit-code", "1"}
		t.Spec.DesiredState = v1.Completed
	}))
	final := c.waitFor("loop", "stopped", 60*time.Second, func(t *v1.Task) bool {
		return t.Status.State == v1.Completed && t.Status.ObservedGeneration == t.Generation
	})
	starts := events.count(t, runtime.EventStart)["loop"]
	if starts < 2 {
		t.Fatalf("only %d starts: the loop never restarted", starts)
	}
	if int(final.Status.RestartCount) != starts-1 {
		t.Fatalf("restartCount = %d, Docker started the task %d times: want starts-1 = %d", final.Status.RestartCount, starts, starts-1)
	}
	if final.Status.PreviousContainerID == "" {
		t.Fatalf("no previous container in the status: %+v", final.Status)
	}
	code, body := c.rawGet("/v1/tasks/loop/logs?previous=true")
	if code != http.StatusOK || !strings.Contains(body, "workload "+final.Status.PreviousContainerID[:12]+" started") {
		t.Fatalf("logs?previous=true: %d %q, want the output of container %.12s", code, body, final.Status.PreviousContainerID)
	}
	code, body = c.rawGet("/v1/tasks/loop/logs")
	if code != http.StatusOK || !strings.Contains(body, "workload "+final.Status.ContainerID[:12]+" started") {
		t.Fatalf("logs: %d %q, want the output of the current container %.12s", code, body, final.Status.ContainerID)
	}
}

// TestE2E_Identity_TwoCubeletsOneDaemon_NeverTouchEachOther runs two
// cubelets with their own data dirs on one daemon, the same task names on
// both, and kill -9s one of them: nothing is destroyed or restarted and no
// container is shared.
func TestE2E_Identity_TwoCubeletsOneDaemon_NeverTouchEachOther(t *testing.T) {
	names := []string{"web", "api", "worker"}
	e := newEnv(t)
	other := *e
	other.dataDir = t.TempDir()
	events := e.recordEvents()
	a, b := e.start(), other.start()
	for _, c := range []*cubelet{a, b} {
		for _, name := range names {
			c.put(e.task(name))
		}
	}
	for _, c := range []*cubelet{a, b} {
		for _, name := range names {
			c.waitRunning(name)
		}
	}
	a.kill9()
	a = e.start()
	for _, name := range names {
		a.waitRunning(name)
	}
	// Watch for a while: before instance identity each cubelet removed
	// the other's containers within seconds.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if d := events.count(t, runtime.EventDestroy); len(d) > 0 {
			t.Fatalf("containers destroyed: %v", d)
		}
		time.Sleep(100 * time.Millisecond) // observation period, not synchronisation
	}
	seen := map[string]string{}
	for i, c := range []*cubelet{a, b} {
		for _, name := range names {
			task, _ := c.get(name)
			if task.Status.RestartCount != 0 || task.Status.State != v1.Running {
				t.Errorf("cubelet %d task %s: state %s restartCount %d, want Running with no restart", i, name, task.Status.State, task.Status.RestartCount)
			}
			if prev, ok := seen[task.Status.ContainerID]; ok {
				t.Errorf("container %.12s is shared by %s and cubelet %d's %s", task.Status.ContainerID, prev, i, name)
			}
			seen[task.Status.ContainerID] = fmt.Sprintf("cubelet %d's %s", i, name)
		}
	}
	if starts := events.count(t, runtime.EventStart); len(starts) != len(names) || starts["web"] != 2 {
		t.Errorf("starts per task name = %v, want 2 each (one per cubelet)", starts)
	}
}

// TestE2E_Identity_ForeignContainersAndLostStores_NothingRemoved starts
// containers that carry cubelet's labels without being this instance's (by
// hand, and from an image whose Dockerfile sets the label), then points
// cubelet at a truncated store and at a fresh data dir next to a running
// task of the old identity: none of them is touched.
func TestE2E_Identity_ForeignContainersAndLostStores_NothingRemoved(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	byHand := e.runContainer(ctx, runtime.ContainerSpec{Name: "e2e-by-hand", Image: e.image,
		Cmd:    []string{"--listen", ":8080"},
		Labels: map[string]string{controller.LabelManaged: "true", controller.LabelTask: "web"}})
	labelled := e.buildLabelledImage(ctx)
	fromImage := e.runContainer(ctx, runtime.ContainerSpec{Name: "e2e-from-labelled-image", Image: labelled, Cmd: []string{"--listen", ":8080"}})

	old := e.start()
	old.put(e.task("web"))
	oldTask := old.waitRunning("web")
	if err := old.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	keep := []string{byHand, fromImage, oldTask.Status.ContainerID}

	// A truncated store is a new instance; so is a fresh data dir.
	if err := os.Truncate(filepath.Join(e.dataDir, "cubelet.db"), 0); err != nil {
		t.Fatal(err)
	}
	fresh := *e
	fresh.dataDir = t.TempDir()
	for i, c := range []*cubelet{e.start(), fresh.start()} {
		// Once its metric counts them, the new instance has listed the
		// foreign containers and made its decisions about them.
		eventually(t, 30*time.Second, "foreign containers counted", func() (bool, string) {
			_, metrics := c.rawGet("/metrics")
			for _, line := range strings.Split(metrics, "\n") {
				if v, ok := strings.CutPrefix(line, "cubelet_foreign_containers "); ok {
					n, err := strconv.Atoi(v)
					return err == nil && n >= len(keep), line
				}
			}
			return false, "no cubelet_foreign_containers metric"
		})
		c.put(e.task("web")) // the same name as the old identity's task
		mine := c.waitRunning("web")
		for _, id := range keep {
			got, err := e.docker.InspectContainer(ctx, id)
			if err != nil {
				t.Fatalf("cubelet %d removed foreign container %.12s: %v", i, id, err)
			}
			if !got.Running() {
				t.Fatalf("cubelet %d stopped foreign container %.12s (%s)", i, id, got.State)
			}
			if id == mine.Status.ContainerID {
				t.Fatalf("cubelet %d adopted foreign container %.12s", i, id)
			}
		}
		if err := c.stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
}

// runContainer creates and starts a container outside cubelet.
func (e *env) runContainer(ctx context.Context, spec runtime.ContainerSpec) string {
	e.t.Helper()
	id, err := e.docker.CreateContainer(ctx, spec)
	if err != nil {
		e.t.Fatalf("create %s: %v", spec.Name, err)
	}
	e.t.Cleanup(func() { _ = e.docker.RemoveContainer(context.Background(), id) })
	if err := e.docker.StartContainer(ctx, id); err != nil {
		e.t.Fatalf("start %s: %v", spec.Name, err)
	}
	return id
}

// buildLabelledImage builds, from the workload image, one whose Dockerfile
// sets cubelet's managed label, as anybody's image may.
func (e *env) buildLabelledImage(ctx context.Context) string {
	e.t.Helper()
	const tag = "cubelet-e2e-labelled:latest"
	dockerfile := fmt.Sprintf("FROM %s\nLABEL %s=true %s=web\n", e.image, controller.LabelManaged, controller.LabelTask)
	cmd := exec.CommandContext(ctx, "docker", "build", "-q", "-t", tag, "-")
	cmd.Stdin = strings.NewReader(dockerfile)
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("docker build %s: %v\n%s", tag, err, out)
	}
	return tag
}
