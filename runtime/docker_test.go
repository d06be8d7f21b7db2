package runtime_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cubelet/cubelet/hack/testimage"
	"github.com/cubelet/cubelet/runtime"
)

// End-to-end tests against the local Docker daemon and the workload image
// built by hack/testimage. Their containers carry testLabel, never cubelet's
// managed label, so a cubelet running on the same host leaves them alone,
// and a per-test run label so each test sees only its own events.
const (
	testLabel    = "io.cubelet.test"
	testLabelVal = "runtime"
	runLabel     = "io.cubelet.test.run"
)

// e2e is one test's view of the daemon.
type e2e struct {
	t     *testing.T
	d     *runtime.Docker
	image string
	run   string // this test's unique run label value, also its name prefix
}

func newE2E(t *testing.T) *e2e {
	t.Helper()
	image := testimage.Require(t)
	d, err := runtime.NewDocker("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Ping(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &e2e{t: t, d: d, image: image, run: "cubelet-rt-" + hex.EncodeToString(b)}
}

func (e *e2e) ctx(timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	e.t.Cleanup(cancel)
	return ctx
}

// spec returns a spec for the workload with args as its CMD, named uniquely
// for this test and labelled for it; the container is removed at cleanup.
func (e *e2e) spec(suffix string, args ...string) runtime.ContainerSpec {
	name := e.run + "-" + suffix
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.d.RemoveContainer(ctx, name); err != nil {
			e.t.Errorf("cleanup: %v", err)
		}
	})
	return runtime.ContainerSpec{
		Name:   name,
		Image:  e.image,
		Cmd:    args,
		Labels: map[string]string{testLabel: testLabelVal, runLabel: e.run},
	}
}

func (e *e2e) createAndStart(spec runtime.ContainerSpec) string {
	e.t.Helper()
	ctx := e.ctx(30 * time.Second)
	id, err := e.d.CreateContainer(ctx, spec)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.d.StartContainer(ctx, id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// waitFor polls InspectContainer until cond holds or the deadline passes.
func (e *e2e) waitFor(id string, within time.Duration, what string, cond func(runtime.Container) bool) runtime.Container {
	e.t.Helper()
	ctx := e.ctx(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := e.d.InspectContainer(ctx, id)
		if err == nil && cond(c) {
			return c
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("container %s: not %s within %v (last: %+v, err %v)", id, what, within, c, err)
		case <-tick.C:
		}
	}
}

// waitStarted waits for the workload's first log line, printed once it
// handles signals: a signal before that would meet Go's default handling.
func (e *e2e) waitStarted(id string) {
	e.t.Helper()
	ctx := e.ctx(20 * time.Second)
	rc, err := e.d.ContainerLogs(ctx, id, runtime.LogOptions{Follow: true, Tail: -1})
	if err != nil {
		e.t.Fatal(err)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "workload ") && strings.Contains(sc.Text(), " started") {
			return
		}
	}
	e.t.Fatalf("container %s: no start line in its logs (%v)", id, sc.Err())
}

func exited(c runtime.Container) bool { return c.State == runtime.StateExited }

func TestDocker_Lifecycle_CreateStartDieDestroy_SeenInInspectListAndEvents(t *testing.T) {
	e := newE2E(t)
	evCtx, stopEvents := context.WithCancel(context.Background())
	defer stopEvents()
	events, errs := e.d.Events(evCtx, runLabel, e.run)

	spec := e.spec("life", "--exit-after", "300ms", "--exit-code", "3")
	spec.Env = []string{"GREETING=hi"}
	before := time.Now().Add(-time.Second)
	id, err := e.d.CreateContainer(e.ctx(30*time.Second), spec)
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.d.InspectContainer(e.ctx(10*time.Second), spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != id || c.Name != spec.Name || c.State != runtime.StateCreated || c.Image != e.image ||
		c.Labels[runLabel] != e.run || c.CreatedAt.Before(before) || !c.StartedAt.IsZero() || !c.FinishedAt.IsZero() {
		t.Fatalf("after create: %+v", c)
	}

	if err := e.d.StartContainer(e.ctx(30*time.Second), id); err != nil {
		t.Fatal(err)
	}
	c = e.waitFor(id, 20*time.Second, "exited", exited)
	if c.ExitCode != 3 || c.OOMKilled || c.Pid != 0 || c.StartedAt.IsZero() || c.FinishedAt.Before(c.StartedAt) {
		t.Fatalf("after exit: %+v", c)
	}

	list, err := e.d.ListContainers(e.ctx(10*time.Second), runLabel, e.run)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != id || list[0].ExitCode != 3 {
		t.Fatalf("ListContainers = %+v, want just %s", list, id)
	}

	if err := e.d.RemoveContainer(e.ctx(30*time.Second), id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.InspectContainer(e.ctx(10*time.Second), id); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("inspect after remove: %v, want ErrNotFound", err)
	}

	want := []runtime.EventAction{runtime.EventCreate, runtime.EventStart, runtime.EventDie, runtime.EventDestroy}
	var got []runtime.EventAction
	deadline := time.After(20 * time.Second)
	for !containsInOrder(got, want) {
		select {
		case ev := <-events:
			if ev.ContainerID != id {
				t.Fatalf("event for another container: %+v", ev)
			}
			if ev.Labels[runLabel] != e.run || ev.Time.IsZero() {
				t.Fatalf("event without labels or time: %+v", ev)
			}
			got = append(got, ev.Action)
		case err := <-errs:
			t.Fatalf("event stream ended: %v (saw %v)", err, got)
		case <-deadline:
			t.Fatalf("saw events %v, want %v in order", got, want)
		}
	}

	stopEvents()
	select {
	case err := <-errs:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("stream ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no error after cancelling the event stream")
	}
	for range events { // drains, then ends: the channel is closed
	}
}

func containsInOrder(got, want []runtime.EventAction) bool {
	i := 0
	for _, a := range got {
		if i < len(want) && a == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestDocker_CreateContainer_SameName_IsNameConflict(t *testing.T) {
	e := newE2E(t)
	spec := e.spec("dup")
	ctx := e.ctx(30 * time.Second)
	if _, err := e.d.CreateContainer(ctx, spec); err != nil {
		t.Fatal(err)
	}
	_, err := e.d.CreateContainer(ctx, spec)
	if !errors.Is(err, runtime.ErrNameConflict) {
		t.Fatalf("second create: %v, want ErrNameConflict", err)
	}
	if !strings.Contains(err.Error(), spec.Name) {
		t.Errorf("error %q does not name the container", err)
	}
}

func TestDocker_CreateContainer_MissingImage_IsNotFound(t *testing.T) {
	e := newE2E(t)
	spec := e.spec("noimage")
	spec.Image = "cubelet-no-such-image:" + e.run
	if _, err := e.d.CreateContainer(e.ctx(30*time.Second), spec); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("create: %v, want ErrNotFound", err)
	}
}

func TestDocker_MissingContainer(t *testing.T) {
	e := newE2E(t)
	ctx := e.ctx(30 * time.Second)
	missing := e.run + "-missing"
	if _, err := e.d.InspectContainer(ctx, missing); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("inspect: %v, want ErrNotFound", err)
	}
	if err := e.d.StartContainer(ctx, missing); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("start: %v, want ErrNotFound", err)
	}
	if err := e.d.StopContainer(ctx, missing, time.Second); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("stop: %v, want ErrNotFound", err)
	}
	if err := e.d.RemoveContainer(ctx, missing); err != nil {
		t.Errorf("remove: %v, want nil", err)
	}
	if _, err := e.d.ContainerLogs(ctx, missing, runtime.LogOptions{Tail: -1}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("logs: %v, want ErrNotFound", err)
	}
}

func TestDocker_StopContainer_HonouringSIGTERM_ExitsZeroPromptly(t *testing.T) {
	e := newE2E(t)
	id := e.createAndStart(e.spec("term"))
	e.waitStarted(id)

	start := time.Now()
	if err := e.d.StopContainer(e.ctx(30*time.Second), id, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 8*time.Second { // well below the 10s grace
		t.Errorf("stop took %v; the workload exits on SIGTERM", took)
	}
	c := e.waitFor(id, 10*time.Second, "exited", exited)
	if c.ExitCode != 0 {
		t.Errorf("exit code %d, want 0", c.ExitCode)
	}
	if err := e.d.StopContainer(e.ctx(30*time.Second), id, time.Second); err != nil {
		t.Errorf("stopping a stopped container: %v", err)
	}
	if err := e.d.StartContainer(e.ctx(30*time.Second), id); err != nil {
		t.Errorf("restarting an exited container: %v", err)
	}
	e.waitFor(id, 20*time.Second, "running again", func(c runtime.Container) bool { return c.Running() })
}

func TestDocker_StopContainer_IgnoringSIGTERM_KilledAfterGrace(t *testing.T) {
	e := newE2E(t)
	spec := e.spec("stubborn", "--ignore-sigterm")
	spec.StopTimeout = time.Minute // the explicit grace must win over this
	id := e.createAndStart(spec)
	e.waitStarted(id)

	const grace = time.Second
	start := time.Now()
	if err := e.d.StopContainer(e.ctx(30*time.Second), id, grace); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	c := e.waitFor(id, 10*time.Second, "exited", exited)
	if c.ExitCode != 137 {
		t.Errorf("exit code %d, want 137 (SIGKILL)", c.ExitCode)
	}
	// About grace+1s on an idle host; the upper bound leaves room for a
	// loaded daemon while staying far below the container's StopTimeout.
	t.Logf("stop with %v grace took %v", grace, took)
	if took < grace-100*time.Millisecond || took > grace+15*time.Second {
		t.Errorf("stop took %v, want about the %v grace", took, grace)
	}
}

func TestDocker_Ports_HostPortZero_GetsAFreePortThatServesHTTP(t *testing.T) {
	e := newE2E(t)
	spec := e.spec("ports") // nil Cmd: the image's own CMD, --listen :8080
	spec.Ports = []runtime.PortBinding{{ContainerPort: 8080, Protocol: "tcp", HostIP: "127.0.0.1"}}
	id := e.createAndStart(spec)
	c := e.waitFor(id, 20*time.Second, "running with a port", func(c runtime.Container) bool { return c.Running() && len(c.Ports) > 0 })
	p := c.Ports[0]
	if len(c.Ports) != 1 || p.ContainerPort != 8080 || p.Protocol != "tcp" || p.HostIP != "127.0.0.1" || p.HostPort == 0 {
		t.Fatalf("ports = %+v", c.Ports)
	}

	url := fmt.Sprintf("http://127.0.0.1:%d/", p.HostPort)
	ctx := e.ctx(20 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		body, err := get(ctx, client, url)
		if err == nil {
			if want := "hello from "; !strings.HasPrefix(body, want) {
				t.Fatalf("GET %s = %q, want %q...", url, body, want)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("GET %s never answered: %v", url, err)
		case <-time.After(50 * time.Millisecond):
		}
	}

	if err := e.d.StopContainer(e.ctx(30*time.Second), id, time.Second); err != nil {
		t.Fatal(err)
	}
	if c := e.waitFor(id, 10*time.Second, "exited", exited); len(c.Ports) != 0 {
		t.Errorf("a stopped container still reports ports %+v", c.Ports)
	}
}

func get(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), nil
}

func TestDocker_MemoryLimit_AllocatingPastIt_IsOOMKilled(t *testing.T) {
	e := newE2E(t)
	evCtx, stopEvents := context.WithCancel(context.Background())
	defer stopEvents()
	// An event subscription is what feeds Docker's book of oom events.
	_, _ = e.d.Events(evCtx, runLabel, e.run)
	spec := e.spec("oom", "--alloc-mib", "256")
	spec.Memory = 32 << 20
	id := e.createAndStart(spec)
	c := e.waitFor(id, 30*time.Second, "exited", exited)
	if c.ExitCode != 137 {
		t.Fatalf("after exceeding the limit: ExitCode=%d, want 137", c.ExitCode)
	}
	// Docker 20.10 records the kill in the OOMKilled flag only when its OOM
	// notice is handled after the exit (an earlier one is reset by the
	// exit), but it always emits the "oom" event. Docker puts the event back
	// on the container, so callers see one flag either way.
	deadline := time.Now().Add(10 * time.Second)
	for !c.OOMKilled {
		if time.Now().After(deadline) {
			t.Fatal("not marked OOMKilled within 10s of the exit")
		}
		time.Sleep(50 * time.Millisecond) // poll: the oom event may trail the exit
		var err error
		if c, err = e.d.InspectContainer(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDocker_Images(t *testing.T) {
	e := newE2E(t)
	ctx := e.ctx(30 * time.Second)
	missing := "cubelet-no-such-image:" + e.run
	// The controller pulls the way docker run does: a create that fails
	// with ErrNotFound means the image is missing.
	spec := e.spec("missing-image")
	spec.Image = missing
	if _, err := e.d.CreateContainer(ctx, spec); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("create with missing image %s: %v, want ErrNotFound", missing, err)
	}
	// No registry is reachable here, and the image exists nowhere: either
	// way the daemon refuses, and its words must reach the caller.
	err := e.d.PullImage(ctx, missing)
	if err == nil {
		t.Fatalf("PullImage(%s) succeeded", missing)
	}
	if !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "daemon") {
		t.Errorf("PullImage error %q lacks the image or the daemon's message", err)
	}
}

func TestDocker_ContainerLogs_Demultiplexed(t *testing.T) {
	e := newE2E(t)
	id := e.createAndStart(e.spec("logs", "--print", "first words", "--exit-after", "200ms"))
	e.waitFor(id, 20*time.Second, "exited", exited)

	rc, err := e.d.ContainerLogs(e.ctx(20*time.Second), id, runtime.LogOptions{Tail: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "workload ") || lines[1] != "first words" ||
		lines[2] != "exiting with code 0 after 200ms" {
		t.Fatalf("logs = %q; want three clean lines (no stream framing)", b)
	}

	rc, err = e.d.ContainerLogs(e.ctx(20*time.Second), id, runtime.LogOptions{Tail: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); string(b) != "exiting with code 0 after 200ms\n" {
		t.Fatalf("tail 1 = %q", b)
	}
}

func TestDocker_ContainerLogs_Follow_StreamsNewLinesUntilClosed(t *testing.T) {
	e := newE2E(t)
	id := e.createAndStart(e.spec("follow", "--print-every", "50ms"))
	rc, err := e.d.ContainerLogs(e.ctx(30*time.Second), id, runtime.LogOptions{Follow: true, Tail: -1})
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var seen []string
	deadline := time.After(20 * time.Second)
	for !slices.Contains(seen, "line 3") {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("log stream ended early after %q", seen)
			}
			seen = append(seen, l)
		case <-deadline:
			t.Fatalf("no 'line 3' in followed logs: %q", seen)
		}
	}
	if err := rc.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	for range lines { // the reader ends once closed
	}
}

func TestDocker_Events_StartAtTheCall_NoOlderEvents(t *testing.T) {
	e := newE2E(t)
	ctx := e.ctx(30 * time.Second)
	before, err := e.d.CreateContainer(ctx, e.spec("before"))
	if err != nil {
		t.Fatal(err)
	}
	events, errs := e.d.Events(ctx, runLabel, e.run)
	after, err := e.d.CreateContainer(ctx, e.spec("after"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.ContainerID == before {
			t.Fatalf("replayed an event from before the call: %+v", ev)
		}
		if ev.ContainerID != after || ev.Action != runtime.EventCreate {
			t.Fatalf("first event %+v, want create of %s", ev, after)
		}
	case err := <-errs:
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("no create event")
	}
}
