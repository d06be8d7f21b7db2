package controller

import (
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const testInstance = "node-a"

type taskOpt func(*v1.Task)

func newTestTask(opts ...taskOpt) *v1.Task {
	t := &v1.Task{
		ObjectMeta: metav1.ObjectMeta{Name: "web", UID: types.UID("uid-1"), Generation: 1, ResourceVersion: "5"},
		Spec:       v1.TaskSpec{Image: "cubelet-workload:latest"},
	}
	v1.SetDefaults(t)
	t.Status.ObservedGeneration = 1
	t.Status.State = v1.Running
	for _, o := range opts {
		o(t)
	}
	return t
}

func desired(s v1.State) taskOpt        { return func(t *v1.Task) { t.Spec.DesiredState = s } }
func policy(p v1.RestartPolicy) taskOpt { return func(t *v1.Task) { t.Spec.RestartPolicy = p } }
func state(s v1.State) taskOpt          { return func(t *v1.Task) { t.Status.State = s } }
func restartCount(n int32) taskOpt      { return func(t *v1.Task) { t.Status.RestartCount = n } }
func generation(n int64) taskOpt        { return func(t *v1.Task) { t.Generation = n } }
func fresh() taskOpt                    { return func(t *v1.Task) { t.Status = v1.TaskStatus{}; t.Generation = 1 } }
func restartGeneration(n int64) taskOpt { return func(t *v1.Task) { t.Spec.RestartGeneration = n } }
func statusContainer(id string) taskOpt { return func(t *v1.Task) { t.Status.ContainerID = id } }
func pull(p v1.PullPolicy) taskOpt      { return func(t *v1.Task) { t.Spec.ImagePullPolicy = p } }
func managedByCube() taskOpt {
	return func(t *v1.Task) {
		t.Annotations = map[string]string{v1.AnnotationRestartAuthority: v1.RestartAuthorityCubeManager}
	}
}
func withProbes(kinds ...probeKind) taskOpt {
	return func(t *v1.Task) {
		for _, k := range kinds {
			p := &v1.Probe{ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(8080)}}}
			switch k {
			case probeLiveness:
				t.Spec.LivenessProbe = p
			case probeReadiness:
				t.Spec.ReadinessProbe = p
			case probeStartup:
				t.Spec.StartupProbe = p
			}
		}
		v1.SetDefaults(t)
	}
}

// healthy sets what the prober knows of the containers, by ID.
func healthy(o observation, byID map[string]containerHealth) observation {
	o.health = byID
	return o
}

var livenessFailed = containerHealth{failed: probeLiveness, message: "HTTP probe failed with statuscode: 500"}

func deleting() taskOpt {
	return func(t *v1.Task) { now := metav1.NewTime(t0); t.DeletionTimestamp = &now }
}

type containerOpt func(*runtime.Container)

// attempt returns the container of attempt n of task's current run, as
// cubelet labels it.
func attempt(task *v1.Task, n int32, st runtime.ContainerState, opts ...containerOpt) runtime.Container {
	spec := containerSpec(testInstance, task, n)
	c := runtime.Container{
		ID:        "c" + strconv.Itoa(int(task.Generation)) + "." + strconv.Itoa(int(n)),
		Name:      spec.Name,
		Labels:    spec.Labels,
		State:     st,
		CreatedAt: t0.Add(-time.Hour + time.Duration(n)*time.Minute),
	}
	if st != runtime.StateCreated {
		c.StartedAt = t0.Add(-10 * time.Second)
	}
	if st == runtime.StateExited {
		c.FinishedAt = t0.Add(-100 * time.Millisecond)
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// of builds the container with task (before a change) and returns it for a
// table whose task is another.
func of(before *v1.Task, n int32, st runtime.ContainerState, opts ...containerOpt) func(*v1.Task) runtime.Container {
	return func(*v1.Task) runtime.Container { return attempt(before, n, st, opts...) }
}

func cur(n int32, st runtime.ContainerState, opts ...containerOpt) func(*v1.Task) runtime.Container {
	return func(task *v1.Task) runtime.Container { return attempt(task, n, st, opts...) }
}

func exitCode(code int) containerOpt { return func(c *runtime.Container) { c.ExitCode = code } }
func oom() containerOpt              { return func(c *runtime.Container) { c.OOMKilled = true; c.ExitCode = 137 } }
func ranFor(d time.Duration) containerOpt {
	return func(c *runtime.Container) { c.StartedAt = c.FinishedAt.Add(-d) }
}
func finishedAt(at time.Time) containerOpt {
	return func(c *runtime.Container) { c.FinishedAt = at }
}

func testPolicy() BackoffPolicy {
	return BackoffPolicy{Base: time.Second, Max: 5 * time.Minute, Reset: time.Minute}
}

func observe(task *v1.Task, cs ...func(*v1.Task) runtime.Container) observation {
	o := observation{task: task, instance: testInstance, now: t0, backoff: testPolicy(), jitter: func() float64 { return 0 }}
	for _, c := range cs {
		o.containers = append(o.containers, c(task))
	}
	return o
}

// TestDecide_Table walks the rows of the decision: desired state, status
// and observed containers in, the whole plan out.
func TestDecide_Table(t *testing.T) {
	v1Task := newTestTask()
	other := newTestTask(func(t *v1.Task) { t.UID = "uid-0" })
	cases := []struct {
		name string
		obs  observation
		want string
	}{
		{"new task without container creates attempt 0",
			observe(newTestTask(fresh())),
			"create cubelet-node-a-web-uid-1-1.0 pull=if-missing (run of generation 1)\n=> Scheduled/ContainerCreating restarts=0"},
		{"created, never started: start it",
			observe(newTestTask(state(v1.Scheduled)), cur(0, runtime.StateCreated)),
			"start cubelet-node-a-web-uid-1-1.0 (created but never started)\n=> Scheduled/ContainerCreating restarts=0"},
		{"running container is observed as Running",
			observe(newTestTask(state(v1.Scheduled)), cur(0, runtime.StateRunning)),
			"=> Running restarts=0"},
		{"steady Running changes nothing",
			observe(newTestTask(), cur(0, runtime.StateRunning)),
			"=> Running restarts=0"},
		{"Never job that exited 0 completes",
			observe(newTestTask(policy(v1.RestartNever)), cur(0, runtime.StateExited)),
			"=> Completed/Completed restarts=0"},
		{"Never job whose status was never written: the container says it ran, it is not started again",
			observe(newTestTask(fresh(), policy(v1.RestartNever)), cur(0, runtime.StateExited)),
			"=> Completed/Completed restarts=0"},
		{"Never job that failed",
			observe(newTestTask(policy(v1.RestartNever)), cur(0, runtime.StateExited, exitCode(3))),
			"=> Failed/Error restarts=0"},
		{"OOM kill under Never",
			observe(newTestTask(policy(v1.RestartNever)), cur(0, runtime.StateExited, oom())),
			"=> Failed/OOMKilled restarts=0"},
		{"OnFailure after exit 0 completes",
			observe(newTestTask(policy(v1.RestartOnFailure)), cur(0, runtime.StateExited)),
			"=> Completed/Completed restarts=0"},
		{"quick crash under Always waits out the back-off",
			observe(newTestTask(), cur(0, runtime.StateExited, exitCode(3))),
			"=> Running/CrashLoopBackOff restarts=0 requeue=900ms"},
		{"exit after a steady run restarts at once as the next attempt",
			observe(newTestTask(), cur(0, runtime.StateExited, exitCode(3), ranFor(time.Hour))),
			"restart cubelet-node-a-web-uid-1-1.1 pull=if-missing (restartPolicy Always after exit code 3)\n=> Running restarts=1"},
		{"restart count is derived from the attempt label when the status lost it",
			observe(newTestTask(restartCount(1)), cur(2, runtime.StateExited, ranFor(time.Hour)), cur(3, runtime.StateRunning)),
			"=> Running restarts=3"},
		{"only the previous attempt is kept",
			observe(newTestTask(restartCount(2)), cur(0, runtime.StateExited), cur(1, runtime.StateExited), cur(2, runtime.StateRunning)),
			"remove cubelet-node-a-web-uid-1-1.0 (not the current or previous attempt)\n=> Running restarts=2"},
		{"finished run whose container is gone stays finished",
			observe(newTestTask(state(v1.Completed))),
			"=> Completed restarts=0"},
		{"container removed from outside mid-run: the next attempt, counted",
			observe(newTestTask(statusContainer("c1.0"))),
			"create cubelet-node-a-web-uid-1-1.1 pull=if-missing (container c1.0 disappeared)\n=> Running/ContainerMissing restarts=1"},
		{"container started from outside after the run ended is stopped",
			observe(newTestTask(state(v1.Completed), policy(v1.RestartNever)), cur(0, runtime.StateRunning)),
			"stop cubelet-node-a-web-uid-1-1.0 (run is Completed)\n=> Completed restarts=0"},
		{"created container of a finished run is not started",
			observe(newTestTask(state(v1.Completed), policy(v1.RestartNever)), cur(0, runtime.StateCreated)),
			"=> Completed restarts=0"},
		{"engine removing the container: wait",
			observe(newTestTask(), cur(0, runtime.StateRemoving)),
			"=> Running restarts=0"},
		{"spec change: the old container is stopped and kept as the previous one, the new run gets its own",
			observe(newTestTask(generation(2), func(t *v1.Task) { t.Spec.Image = "other:1" }), of(v1Task, 0, runtime.StateRunning)),
			"stop cubelet-node-a-web-uid-1-1.0 (superseded by the current run)\ncreate cubelet-node-a-web-uid-1-2.0 pull=if-missing (run of generation 2)\n=> Scheduled/ContainerCreating restarts=0"},
		{"restart policy change carries the running container over into the new run",
			observe(newTestTask(generation(2), policy(v1.RestartOnFailure)), of(v1Task, 0, runtime.StateRunning)),
			"=> Running restarts=0"},
		{"a carried container the status names stays the run's after it exits",
			observe(newTestTask(generation(2), policy(v1.RestartNever), statusContainer("c1.0"), func(t *v1.Task) { t.Status.ObservedGeneration = 2 }),
				of(v1Task, 0, runtime.StateExited)),
			"=> Completed/Completed restarts=0"},
		{"an exited container of an earlier run is not carried: the new run gets its own",
			observe(newTestTask(generation(2), state(v1.Completed), policy(v1.RestartNever)), of(newTestTask(policy(v1.RestartNever)), 0, runtime.StateExited)),
			"create cubelet-node-a-web-uid-1-2.0 pull=if-missing (run of generation 2)\n=> Scheduled/ContainerCreating restarts=0"},
		{"Cube restart (restartGeneration) is a new container, counted",
			observe(newTestTask(generation(2), restartGeneration(1)), of(v1Task, 0, runtime.StateExited, exitCode(1))),
			"create cubelet-node-a-web-uid-1-2.1 pull=if-missing (restartGeneration 1)\n=> Scheduled/ContainerCreating restarts=1"},
		{"desiredState Completed stops the container",
			observe(newTestTask(generation(2), desired(v1.Completed)), of(v1Task, 0, runtime.StateRunning)),
			"stop cubelet-node-a-web-uid-1-1.0 (desiredState is Completed)\n=> Completed/Stopped restarts=0"},
		{"stopped and still stopped",
			observe(newTestTask(desired(v1.Completed), state(v1.Completed)), cur(0, runtime.StateExited)),
			"=> Completed restarts=0"},
		{"deletion removes every container, then finalizes",
			observe(newTestTask(deleting()), cur(0, runtime.StateExited), cur(1, runtime.StateRunning)),
			"remove cubelet-node-a-web-uid-1-1.0 (task is being deleted)\nremove cubelet-node-a-web-uid-1-1.1 (task is being deleted)\n=> Running restarts=0 finalize"},
		{"a container of an earlier task of the same name is removed",
			observe(newTestTask(fresh()), of(other, 0, runtime.StateRunning)),
			"remove cubelet-node-a-web-uid-0-1.0 (not the current or previous attempt)\ncreate cubelet-node-a-web-uid-1-1.0 pull=if-missing (run of generation 1)\n=> Scheduled/ContainerCreating restarts=0"},
		{"imagePullPolicy Always pulls first",
			observe(newTestTask(fresh(), pull(v1.PullAlways))),
			"create cubelet-node-a-web-uid-1-1.0 pull=first (run of generation 1)\n=> Scheduled/ContainerCreating restarts=0"},
		{"Cube manager's task: a crash is Failed, never restarted by cubelet, whatever its policy",
			observe(newTestTask(managedByCube()), cur(0, runtime.StateExited, exitCode(3), ranFor(time.Hour))),
			"=> Failed/Error restarts=0"},
		{"Cube manager's task: exit 0 (docker stop from outside) is Failed too, as Cube's worker reports it",
			observe(newTestTask(managedByCube()), cur(0, runtime.StateExited)),
			"=> Failed/Exited restarts=0"},
		{"Cube manager's task: a container removed mid-run is Failed, not recreated",
			observe(newTestTask(managedByCube(), statusContainer("c1.0"))),
			"=> Failed/ContainerMissing restarts=0"},
		{"Cube manager's restart of a Failed task is the next attempt, counted",
			observe(newTestTask(managedByCube(), generation(2), restartGeneration(1), state(v1.Failed)), of(newTestTask(managedByCube()), 0, runtime.StateExited, exitCode(3))),
			"create cubelet-node-a-web-uid-1-2.1 pull=if-missing (restartGeneration 1)\n=> Scheduled/ContainerCreating restarts=1"},
		{"Cube manager's stop wins: a stopped Failed task stays Failed and nothing starts",
			observe(newTestTask(managedByCube(), desired(v1.Completed), state(v1.Failed)), cur(0, runtime.StateExited, exitCode(3))),
			"=> Failed restarts=0"},
		{"liveness failure stops the running container",
			healthy(observe(newTestTask(withProbes(probeLiveness)), cur(0, runtime.StateRunning)), map[string]containerHealth{"c1.0": livenessFailed}),
			"stop cubelet-node-a-web-uid-1-1.0 (liveness probe failed: HTTP probe failed with statuscode: 500)\n=> Running/Unhealthy restarts=0"},
		{"the container stopped for liveness is restarted at once, counted, even after a quick run",
			healthy(observe(newTestTask(withProbes(probeLiveness)), cur(0, runtime.StateExited)), map[string]containerHealth{"c1.0": livenessFailed}),
			"restart cubelet-node-a-web-uid-1-1.1 pull=if-missing (restartPolicy Always after liveness probe failed: HTTP probe failed with statuscode: 500)\n=> Running/Unhealthy restarts=1"},
		{"liveness kill restarts under OnFailure although the exit code is 0",
			healthy(observe(newTestTask(withProbes(probeLiveness), policy(v1.RestartOnFailure)), cur(0, runtime.StateExited)), map[string]containerHealth{"c1.0": livenessFailed}),
			"restart cubelet-node-a-web-uid-1-1.1 pull=if-missing (restartPolicy OnFailure after liveness probe failed: HTTP probe failed with statuscode: 500)\n=> Running/Unhealthy restarts=1"},
		{"liveness kill under Never fails the run",
			healthy(observe(newTestTask(withProbes(probeLiveness), policy(v1.RestartNever)), cur(0, runtime.StateExited)), map[string]containerHealth{"c1.0": livenessFailed}),
			"=> Failed/Unhealthy restarts=0"},
		{"startup probe failure stops the container as liveness does",
			healthy(observe(newTestTask(withProbes(probeStartup, probeLiveness)), cur(0, runtime.StateRunning)),
				map[string]containerHealth{"c1.0": {failed: probeStartup, message: "dial tcp: connection refused"}}),
			"stop cubelet-node-a-web-uid-1-1.0 (startup probe failed: dial tcp: connection refused)\n=> Running/Unhealthy restarts=0"},
		{"failing readiness leaves the container running",
			healthy(observe(newTestTask(withProbes(probeReadiness)), cur(0, runtime.StateRunning)), map[string]containerHealth{"c1.0": {readyMessage: "HTTP 500"}}),
			"=> Running restarts=0"},
		{"imagePullPolicy Never never pulls",
			observe(newTestTask(fresh(), pull(v1.PullNever))),
			"create cubelet-node-a-web-uid-1-1.0 pull=never (run of generation 1)\n=> Scheduled/ContainerCreating restarts=0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.obs.task.DeepCopy()
			p := decide(tc.obs)
			if got := p.String(); got != tc.want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, tc.want)
			}
			if !equality.Semantic.DeepEqual(before, tc.obs.task) {
				t.Errorf("decide mutated its input task")
			}
		})
	}
}

func TestDecide_TaskGone_RemovesOrphans(t *testing.T) {
	task := newTestTask()
	o := observe(task, cur(0, runtime.StateRunning))
	o.task = nil
	p := decide(o)
	if len(p.actions) != 1 || p.actions[0].String() != "remove cubelet-node-a-web-uid-1-1.0 (task no longer exists)" {
		t.Fatalf("plan:\n%s", p)
	}
}

func TestDecide_PreviousAttemptIsReported(t *testing.T) {
	p := decide(observe(newTestTask(restartCount(1)), cur(0, runtime.StateExited), cur(1, runtime.StateRunning)))
	if p.status.PreviousContainerID != "c1.0" || p.status.ContainerID != "c1.1" {
		t.Fatalf("previous %q current %q, want c1.0 and c1.1", p.status.PreviousContainerID, p.status.ContainerID)
	}
}

func TestDecide_CrashLoop_RestartsOnceAfterTheBackOff(t *testing.T) {
	task := newTestTask()
	o := observe(task, cur(0, runtime.StateExited, exitCode(3)))
	p := decide(o)
	if p.status.NextRetryTime == nil || p.crash.crashes != 1 || p.crash.exited != "c1.0" {
		t.Fatalf("first look: nextRetryTime %v, record %+v", p.status.NextRetryTime, p.crash)
	}
	// The same exit seen again after the back-off restarts, as attempt 1.
	o.crash, o.now = p.crash, t0.Add(time.Second)
	again := decide(o)
	want := "restart cubelet-node-a-web-uid-1-1.1 pull=if-missing (restartPolicy Always after exit code 3)\n=> Running restarts=1"
	if got := again.String(); got != want {
		t.Fatalf("after the back-off:\n%s\nwant:\n%s", got, want)
	}
	if again.crash != p.crash {
		t.Fatalf("the same exit was counted twice: %+v then %+v", p.crash, again.crash)
	}
}

func TestDecide_RestartKeepsTheHostPortDockerPicked(t *testing.T) {
	task := newTestTask(func(t *v1.Task) {
		t.Spec.Ports = []v1.PortMapping{{ContainerPort: 8080, Protocol: v1.ProtocolTCP}}
		t.Status.HostPorts = []v1.HostPort{{ContainerPort: 8080, Protocol: v1.ProtocolTCP, HostPort: 32771}}
	})
	p := decide(observe(task, cur(0, runtime.StateExited, ranFor(time.Hour))))
	if len(p.actions) != 1 {
		t.Fatalf("plan:\n%s", p)
	}
	a := p.actions[0]
	if got := a.spec.Ports[0].HostPort; got != 32771 {
		t.Errorf("restart asks for host port %d, want the previous attempt's 32771", got)
	}
	if len(a.unpinned) != 1 || a.unpinned[0].HostPort != 0 {
		t.Errorf("fallback ports = %+v, want the spec's (host port 0)", a.unpinned)
	}
	if got := p.status.HostPorts; len(got) != 1 || got[0].HostPort != 32771 {
		t.Errorf("status hostPorts during the restart = %+v", got)
	}
}

func TestBackoffPolicy_DelaySchedule(t *testing.T) {
	p := BackoffPolicy{Base: time.Second, Max: 5 * time.Minute}
	want := []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		32 * time.Second, 64 * time.Second, 128 * time.Second, 256 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for crashes, w := range want {
		if got := p.delay(crashes, 0); got != w {
			t.Errorf("delay(%d) = %s, want %s", crashes, got, w)
		}
	}
	p.Jitter = 0.5
	if got := p.delay(2, 1); got != 3*time.Second {
		t.Errorf("delay with full jitter = %s, want 3s", got)
	}
}

func TestNextCrash_CountsEachExitOnceAndResetsAfterSteadyRun(t *testing.T) {
	p := testPolicy()
	zero := func() float64 { return 0 }
	task := newTestTask()
	exit := func(id string, ran time.Duration) *runtime.Container {
		c := &runtime.Container{ID: id, FinishedAt: t0}
		c.StartedAt = t0.Add(-ran)
		return c
	}
	r := nextCrash(crashRecord{}, task, exit("a", time.Second), p, zero)
	if r.crashes != 1 {
		t.Fatalf("first quick crash: crashes = %d, want 1", r.crashes)
	}
	if again := nextCrash(r, task, exit("a", time.Second), p, zero); again != r {
		t.Fatalf("same exit counted twice: %+v", again)
	}
	r = nextCrash(r, task, exit("b", time.Second), p, zero)
	if r.crashes != 2 {
		t.Fatalf("second quick crash: crashes = %d, want 2", r.crashes)
	}
	r = nextCrash(r, task, exit("c", time.Hour), p, zero)
	if r.crashes != 0 {
		t.Fatalf("crash after a steady run: crashes = %d, want 0", r.crashes)
	}
	if r := nextCrash(r, newTestTask(func(t *v1.Task) { t.UID = "uid-2" }), exit("d", time.Second), p, zero); r.crashes != 1 {
		t.Fatalf("a new task incarnation inherited %d crashes", r.crashes)
	}
}

// TestSpecHash_ReplacesOnlyForFieldsThatShapeTheContainer varies every spec
// field: those that shape the container must change the hash (and so
// replace it), the others must not.
func TestSpecHash_ReplacesOnlyForFieldsThatShapeTheContainer(t *testing.T) {
	base := newTestTask()
	h := specHash(&base.Spec)
	grace := int64(7)
	replace := map[string]taskOpt{
		"image":      func(t *v1.Task) { t.Spec.Image = "other:1" },
		"command":    func(t *v1.Task) { t.Spec.Command = []string{"/bin/x"} },
		"args":       func(t *v1.Task) { t.Spec.Args = []string{"x"} },
		"env":        func(t *v1.Task) { t.Spec.Env = []v1.EnvVar{{Name: "A", Value: "1"}} },
		"workingDir": func(t *v1.Task) { t.Spec.WorkingDir = "/srv" },
		"ports":      func(t *v1.Task) { t.Spec.Ports = []v1.PortMapping{{ContainerPort: 80}} },
		"hostPort":   func(t *v1.Task) { t.Spec.Ports = []v1.PortMapping{{ContainerPort: 80, HostPort: 8080}} },
		"cpu":        func(t *v1.Task) { q := resource.MustParse("500m"); t.Spec.Resources.CPU = &q },
		"memory":     func(t *v1.Task) { q := resource.MustParse("64Mi"); t.Spec.Resources.Memory = &q },
		"grace":      func(t *v1.Task) { t.Spec.StopGracePeriodSeconds = &grace },
		"restartGen": restartGeneration(1),
	}
	for field, o := range replace {
		if got := specHash(&newTestTask(o).Spec); got == h {
			t.Errorf("changing %s kept the hash: the container would not be replaced", field)
		}
	}
	keep := map[string]taskOpt{
		"desiredState":    desired(v1.Completed),
		"restartPolicy":   policy(v1.RestartNever),
		"imagePullPolicy": pull(v1.PullNever),
		"labels":          func(t *v1.Task) { t.Labels = map[string]string{"a": "b"} },
		"annotations":     func(t *v1.Task) { t.Annotations = map[string]string{"a": "b"} },
		"status":          restartCount(4),
		"probes":          withProbes(probeLiveness, probeReadiness, probeStartup),
	}
	for field, o := range keep {
		if got := specHash(&newTestTask(o).Spec); got != h {
			t.Errorf("changing %s altered the hash: the container would be replaced", field)
		}
	}
}

func TestDecide_NewRunObservedRunning_RecordsTheStepThroughScheduled(t *testing.T) {
	task := newTestTask(fresh())
	p := decide(observe(task, cur(0, runtime.StateRunning)))
	var got []string
	for _, tr := range p.status.Transitions {
		got = append(got, string(tr.From)+">"+string(tr.To))
	}
	if p.status.State != v1.Running || len(got) != 2 || got[0] != "Pending>Scheduled" || got[1] != "Scheduled>Running" {
		t.Fatalf("state %s transitions %v, want Running via Pending>Scheduled, Scheduled>Running", p.status.State, got)
	}
}

func TestDecide_ReadyCondition_FollowsTheProbes(t *testing.T) {
	ready := func(o observation) (metav1.ConditionStatus, string) {
		p := decide(o)
		for _, c := range p.status.Conditions {
			if c.Type == ConditionReady {
				return c.Status, c.Message
			}
		}
		return "", ""
	}
	cases := []struct {
		name   string
		task   *v1.Task
		health containerHealth
		want   metav1.ConditionStatus
		msg    string
	}{
		{"no probes: running is ready", newTestTask(), containerHealth{}, metav1.ConditionTrue, ""},
		{"readiness not yet probed", newTestTask(withProbes(probeReadiness)), containerHealth{}, metav1.ConditionFalse, "readiness probe has not succeeded yet"},
		{"readiness failing", newTestTask(withProbes(probeReadiness)), containerHealth{readyMessage: "HTTP 500"}, metav1.ConditionFalse, "readiness probe failed: HTTP 500"},
		{"readiness passing", newTestTask(withProbes(probeReadiness)), containerHealth{ready: true}, metav1.ConditionTrue, ""},
		{"startup not yet passed holds readiness back", newTestTask(withProbes(probeStartup, probeReadiness)), containerHealth{ready: true},
			metav1.ConditionFalse, "startup probe has not succeeded yet"},
		{"startup passed, readiness passing", newTestTask(withProbes(probeStartup, probeReadiness)), containerHealth{started: true, ready: true}, metav1.ConditionTrue, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := healthy(observe(tc.task, cur(0, runtime.StateRunning)), map[string]containerHealth{"c1.0": tc.health})
			if got, msg := ready(o); got != tc.want || msg != tc.msg {
				t.Fatalf("Ready = %s %q, want %s %q", got, msg, tc.want, tc.msg)
			}
		})
	}
}

func TestDecide_LivenessRestart_RecordsAnUnhealthyTransition(t *testing.T) {
	o := healthy(observe(newTestTask(withProbes(probeLiveness)), cur(0, runtime.StateExited)), map[string]containerHealth{"c1.0": livenessFailed})
	p := decide(o)
	n := len(p.status.Transitions)
	if n == 0 || p.status.Transitions[n-1].Reason != ReasonUnhealthy || p.status.Transitions[n-1].From != v1.Running {
		t.Fatalf("transitions %+v, want a Running>Running Unhealthy one", p.status.Transitions)
	}
	if p.status.Message != "liveness probe failed: HTTP probe failed with statuscode: 500" {
		t.Fatalf("message %q", p.status.Message)
	}
}

func TestDecide_RunningTask_HasNoFinishTimeOfAnEarlierAttempt(t *testing.T) {
	task := newTestTask(restartCount(1), func(t *v1.Task) {
		ft := metav1.NewTime(t0.Add(-time.Minute))
		code := int32(3)
		t.Status.FinishTime, t.Status.ExitCode = &ft, &code
	})
	p := decide(observe(task, cur(0, runtime.StateExited, exitCode(3)), cur(1, runtime.StateRunning)))
	if p.status.FinishTime != nil || p.status.ExitCode != nil {
		t.Fatalf("running attempt reports finishTime %v exitCode %v of the previous one", p.status.FinishTime, p.status.ExitCode)
	}
}

func TestSpecHash_IgnoresPortNames(t *testing.T) {
	named := newTestTask(func(t *v1.Task) { t.Spec.Ports = []v1.PortMapping{{Name: "http", ContainerPort: 80}} })
	plain := newTestTask(func(t *v1.Task) { t.Spec.Ports = []v1.PortMapping{{ContainerPort: 80}} })
	if specHash(&named.Spec) != specHash(&plain.Spec) {
		t.Fatal("naming a port changed the hash: the container would be replaced for a name only probes read")
	}
	if named.Spec.Ports[0].Name != "http" {
		t.Fatal("specHash changed its input")
	}
}

// A Never job whose node was lost ends Failed/NodeLost, written by the
// scheduler for the current generation (scheduler/failover.go). When that
// node comes back it finds a finished run: whatever its containers show,
// nothing starts again, a container still running is stopped, and the
// NodeLost reason stays (a container the fencing stopped would otherwise
// read as a plain Error exit).
func TestDecide_NodeLostNeverJob_OnItsNodeBack_NeverStartsAgain(t *testing.T) {
	nodeLost := func(t *v1.Task) {
		t.Spec.RestartPolicy = v1.RestartNever
		t.Spec.NodeName = testInstance
		t.Status.State, t.Status.Reason, t.Status.Message = v1.Failed, v1.ReasonNodeLost, "node node-a lost"
		t.Status.ContainerID = "c1.0"
	}
	cases := []struct {
		name string
		obs  observation
		want string
	}{
		{"its container gone (a dead host): nothing made",
			observe(newTestTask(nodeLost)),
			"=> Failed/NodeLost restarts=0"},
		{"its container still running (a partition, no fencing): stopped, not adopted",
			observe(newTestTask(nodeLost), cur(0, runtime.StateRunning)),
			"stop cubelet-node-a-web-uid-1-1.0 (run is Failed)\n=> Failed/NodeLost restarts=0"},
		{"created, never started: not started",
			observe(newTestTask(nodeLost), cur(0, runtime.StateCreated)),
			"=> Failed/NodeLost restarts=0"},
		{"exited 0 meanwhile: stays Failed/NodeLost",
			observe(newTestTask(nodeLost), cur(0, runtime.StateExited)),
			"=> Failed/NodeLost restarts=0"},
		{"stopped by the fencing (exit 143): stays Failed/NodeLost, not Error",
			observe(newTestTask(nodeLost), cur(0, runtime.StateExited, exitCode(143))),
			"=> Failed/NodeLost restarts=0"},
		{"a Pending job ended by the scheduler (its status lagged the generation), no container: nothing made",
			observe(newTestTask(nodeLost, generation(2), func(t *v1.Task) { t.Status.ObservedGeneration = 2; t.Status.ContainerID = "" })),
			"=> Failed/NodeLost restarts=0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := decide(onNode(c.obs, testInstance))
			if got := p.String(); got != c.want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, c.want)
			}
			for _, a := range p.actions {
				if a.kind == actionCreate || a.kind == actionStart || a.kind == actionRestart {
					t.Errorf("planned %s: a run that may have happened elsewhere must not run again", a)
				}
			}
		})
	}
}
