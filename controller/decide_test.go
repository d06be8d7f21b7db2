package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

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
func newGeneration() taskOpt {
	return func(t *v1.Task) { t.Generation = t.Status.ObservedGeneration + 1 }
}
func fresh() taskOpt                    { return func(t *v1.Task) { t.Status = v1.TaskStatus{}; t.Generation = 1 } }
func restartGeneration(n int64) taskOpt { return func(t *v1.Task) { t.Spec.RestartGeneration = n } }
func deleting() taskOpt {
	return func(t *v1.Task) { now := metav1.NewTime(t0); t.DeletionTimestamp = &now }
}

type containerOpt func(*runtime.Container)

// ctr returns a container of task as decide expects to find it.
func ctr(task *v1.Task, st runtime.ContainerState, opts ...containerOpt) runtime.Container {
	hash := specHash(&task.Spec)
	c := runtime.Container{
		ID:        "c-" + hash,
		Name:      containerName(task, hash),
		Labels:    containerLabels(task, hash),
		State:     st,
		CreatedAt: t0.Add(-time.Hour),
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

func exitCode(code int) containerOpt { return func(c *runtime.Container) { c.ExitCode = code } }
func oom() containerOpt              { return func(c *runtime.Container) { c.OOMKilled = true; c.ExitCode = 137 } }
func id(id string) containerOpt      { return func(c *runtime.Container) { c.ID = id } }
func created(at time.Time) containerOpt {
	return func(c *runtime.Container) { c.CreatedAt = at }
}
func ranFor(d time.Duration) containerOpt {
	return func(c *runtime.Container) { c.StartedAt = c.FinishedAt.Add(-d) }
}
func label(k, v string) containerOpt {
	return func(c *runtime.Container) {
		labels := map[string]string{}
		for lk, lv := range c.Labels {
			labels[lk] = lv
		}
		labels[k] = v
		c.Labels = labels
	}
}

func testPolicy() BackoffPolicy {
	return BackoffPolicy{Base: time.Second, Max: 5 * time.Minute, Reset: time.Minute}
}

func TestDecide_Table(t *testing.T) {
	running := newTestTask()
	type want struct {
		actions      []actionKind
		targets      []string // container IDs of the actions, in order; "" for create
		state        v1.State
		reason       string
		restartCount int32
		requeue      bool
		finalize     bool
	}
	cases := []struct {
		name       string
		task       *v1.Task
		containers func(task *v1.Task) []runtime.Container
		record     func(task *v1.Task, cs []runtime.Container) restartRecord
		want       want
	}{
		{
			name: "new task without container creates it",
			task: newTestTask(fresh()),
			want: want{actions: []actionKind{actionCreate}, state: v1.Scheduled, reason: ReasonCreating},
		},
		{
			name:       "created container is started",
			task:       newTestTask(state(v1.Scheduled)),
			containers: one(runtime.StateCreated),
			want:       want{actions: []actionKind{actionStart}, state: v1.Scheduled, reason: ReasonCreating},
		},
		{
			name:       "created container cubelet already started waits for the start event",
			task:       newTestTask(state(v1.Scheduled)),
			containers: one(runtime.StateCreated),
			record: func(_ *v1.Task, cs []runtime.Container) restartRecord {
				return restartRecord{Started: cs[0].ID}
			},
			want: want{state: v1.Scheduled},
		},
		{
			name:       "running container is observed as Running",
			task:       newTestTask(state(v1.Scheduled)),
			containers: one(runtime.StateRunning),
			want:       want{state: v1.Running},
		},
		{
			name:       "running container and Running task change nothing",
			task:       running,
			containers: one(runtime.StateRunning),
			want:       want{state: v1.Running},
		},
		{
			name:       "exit 0 under Never completes the run",
			task:       newTestTask(policy(v1.RestartNever)),
			containers: one(runtime.StateExited, exitCode(0)),
			want:       want{state: v1.Completed, reason: ReasonCompleted},
		},
		{
			name:       "exit 3 under Never fails the run",
			task:       newTestTask(policy(v1.RestartNever)),
			containers: one(runtime.StateExited, exitCode(3)),
			want:       want{state: v1.Failed, reason: ReasonError},
		},
		{
			name:       "OOM kill under Never fails with OOMKilled",
			task:       newTestTask(policy(v1.RestartNever)),
			containers: one(runtime.StateExited, oom()),
			want:       want{state: v1.Failed, reason: ReasonOOMKilled},
		},
		{
			name:       "exit 0 under OnFailure completes the run",
			task:       newTestTask(policy(v1.RestartOnFailure)),
			containers: one(runtime.StateExited, exitCode(0)),
			want:       want{state: v1.Completed, reason: ReasonCompleted},
		},
		{
			name:       "quick crash under OnFailure backs off",
			task:       newTestTask(policy(v1.RestartOnFailure)),
			containers: one(runtime.StateExited, exitCode(3)),
			want:       want{state: v1.Running, reason: ReasonCrashLoopBackOff, requeue: true},
		},
		{
			name:       "quick crash under Always backs off",
			task:       newTestTask(),
			containers: one(runtime.StateExited, exitCode(3)),
			want:       want{state: v1.Running, reason: ReasonCrashLoopBackOff, requeue: true},
		},
		{
			name:       "crash after a steady run restarts at once",
			task:       newTestTask(restartCount(2)),
			containers: one(runtime.StateExited, exitCode(1), ranFor(2*time.Minute)),
			want:       want{actions: []actionKind{actionRestart}, state: v1.Running, restartCount: 3},
		},
		{
			name:       "a quick crash after an earlier recorded exit still backs off",
			task:       newTestTask(),
			containers: one(runtime.StateExited, exitCode(3)),
			record: func(_ *v1.Task, cs []runtime.Container) restartRecord {
				return restartRecord{Exit: cs[0].FinishedAt.Add(-time.Hour), Crashes: 0}
			},
			want: want{state: v1.Running, reason: ReasonCrashLoopBackOff, requeue: true},
		},
		{
			name:       "an exit cubelet already restarted is not restarted twice",
			task:       newTestTask(restartCount(1)),
			containers: one(runtime.StateExited, exitCode(3)),
			record: func(_ *v1.Task, cs []runtime.Container) restartRecord {
				return restartRecord{Exit: cs[0].FinishedAt, Crashes: 1, Restarted: true}
			},
			want: want{state: v1.Running, restartCount: 1},
		},
		{
			name:       "container removed from outside mid-run is recreated as a restart",
			task:       newTestTask(restartCount(1)),
			containers: none,
			want:       want{actions: []actionKind{actionCreate}, state: v1.Running, reason: ReasonContainerMissing, restartCount: 2},
		},
		{
			name: "a recreate already counted is not counted again while the cache lags",
			task: newTestTask(restartCount(2), func(t *v1.Task) {
				t.Status.Reason = ReasonContainerMissing
			}),
			containers: none,
			want:       want{actions: []actionKind{actionCreate}, state: v1.Running, reason: ReasonContainerMissing, restartCount: 2},
		},
		{
			name:       "OOM kill recorded after the exit updates the reason of the finished run",
			task:       newTestTask(policy(v1.RestartNever), state(v1.Failed)),
			containers: one(runtime.StateExited, oom()),
			want:       want{state: v1.Failed, reason: ReasonOOMKilled},
		},
		{
			name:       "finished run without container stays finished",
			task:       newTestTask(policy(v1.RestartNever), state(v1.Completed)),
			containers: none,
			want:       want{state: v1.Completed},
		},
		{
			name:       "finished run whose container was started from outside is stopped",
			task:       newTestTask(policy(v1.RestartNever), state(v1.Failed)),
			containers: one(runtime.StateRunning),
			want:       want{actions: []actionKind{actionStop}, state: v1.Failed},
		},
		{
			name:       "container being removed by the engine is left to it",
			task:       running,
			containers: one(runtime.StateRemoving),
			want:       want{state: v1.Running},
		},
		{
			name: "spec change replaces the container",
			task: newTestTask(newGeneration()),
			containers: func(task *v1.Task) []runtime.Container {
				return []runtime.Container{ctr(task, runtime.StateRunning, id("old"), label(LabelSpecHash, "0ld"))}
			},
			want: want{actions: []actionKind{actionRemove, actionCreate}, targets: []string{"old", ""}, state: v1.Scheduled, reason: ReasonCreating},
		},
		{
			name: "restartGeneration bump replaces the container and counts a restart",
			task: newTestTask(newGeneration(), restartGeneration(1), restartCount(4)),
			containers: func(task *v1.Task) []runtime.Container {
				return []runtime.Container{ctr(task, runtime.StateRunning, id("old"), label(LabelSpecHash, "0ld"), label(LabelRestartGeneration, "0"))}
			},
			want: want{actions: []actionKind{actionRemove, actionCreate}, targets: []string{"old", ""}, state: v1.Scheduled, reason: ReasonCreating, restartCount: 5},
		},
		{
			name: "two containers of one spec: the newest stays",
			task: running,
			containers: func(task *v1.Task) []runtime.Container {
				return []runtime.Container{
					ctr(task, runtime.StateRunning, id("older"), created(t0.Add(-2*time.Hour))),
					ctr(task, runtime.StateRunning, id("newer"), created(t0.Add(-time.Hour))),
				}
			},
			want: want{actions: []actionKind{actionRemove}, targets: []string{"older"}, state: v1.Running},
		},
		{
			name: "container of an earlier task with the same name is removed",
			task: running,
			containers: func(task *v1.Task) []runtime.Container {
				return []runtime.Container{ctr(task, runtime.StateRunning, id("ghost"), label(LabelTaskUID, "uid-0"))}
			},
			want: want{actions: []actionKind{actionRemove, actionCreate}, targets: []string{"ghost", ""}, state: v1.Running, reason: ReasonContainerMissing, restartCount: 1},
		},
		{
			name:       "new run after a stop starts the exited container again",
			task:       newTestTask(state(v1.Completed), newGeneration()),
			containers: one(runtime.StateExited, exitCode(143)),
			want:       want{actions: []actionKind{actionStart}, state: v1.Scheduled},
		},
		{
			name:       "new run after a failure starts again",
			task:       newTestTask(policy(v1.RestartNever), state(v1.Failed), newGeneration()),
			containers: one(runtime.StateExited, exitCode(3)),
			want:       want{actions: []actionKind{actionStart}, state: v1.Scheduled},
		},
		{
			name:       "desired Completed stops a running container",
			task:       newTestTask(desired(v1.Completed), newGeneration()),
			containers: one(runtime.StateRunning),
			want:       want{actions: []actionKind{actionStop}, state: v1.Completed, reason: ReasonStopped},
		},
		{
			name:       "desired Completed with an exited container changes nothing more",
			task:       newTestTask(desired(v1.Completed), state(v1.Completed)),
			containers: one(runtime.StateExited, exitCode(143)),
			want:       want{state: v1.Completed},
		},
		{
			name: "desired Completed before any run completes it",
			task: newTestTask(fresh(), desired(v1.Completed)),
			want: want{state: v1.Completed, reason: ReasonStopped},
		},
		{
			name:       "desired Completed keeps a failed run Failed",
			task:       newTestTask(desired(v1.Completed), state(v1.Failed), newGeneration()),
			containers: one(runtime.StateExited, exitCode(3)),
			want:       want{state: v1.Failed},
		},
		{
			name:       "desired Completed stops a created container",
			task:       newTestTask(desired(v1.Completed), state(v1.Scheduled), newGeneration()),
			containers: one(runtime.StateCreated),
			want:       want{actions: []actionKind{actionStop}, state: v1.Completed, reason: ReasonStopped},
		},
		{
			name:       "deleted task has its containers removed and is finalized",
			task:       newTestTask(deleting()),
			containers: one(runtime.StateRunning),
			want:       want{actions: []actionKind{actionRemove}, state: v1.Running, finalize: true},
		},
		{
			name: "deleted task without containers is finalized",
			task: newTestTask(deleting()),
			want: want{state: v1.Running, finalize: true},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var containers []runtime.Container
			if tc.containers != nil {
				containers = tc.containers(tc.task)
			}
			o := observation{task: tc.task, containers: containers, now: t0, backoff: testPolicy(), jitter: func() float64 { return 0 }}
			if tc.record != nil {
				o.restart = tc.record(tc.task, containers)
			}
			before := tc.task.DeepCopy()
			p := decide(o)

			if got := kinds(p.actions); !equalKinds(got, tc.want.actions) {
				t.Fatalf("actions = %v, want %v", got, tc.want.actions)
			}
			for i, target := range tc.want.targets {
				if target != "" && p.actions[i].container != target {
					t.Errorf("action %d targets %q, want %q", i, p.actions[i].container, target)
				}
			}
			if p.status.State != tc.want.state {
				t.Errorf("state = %s, want %s (message %q)", p.status.State, tc.want.state, p.status.Message)
			}
			if tc.want.reason != "" && p.status.Reason != tc.want.reason {
				t.Errorf("reason = %q, want %q", p.status.Reason, tc.want.reason)
			}
			if p.status.RestartCount != tc.want.restartCount {
				t.Errorf("restartCount = %d, want %d", p.status.RestartCount, tc.want.restartCount)
			}
			if (p.requeueAfter > 0) != tc.want.requeue {
				t.Errorf("requeueAfter = %s, want requeue %v", p.requeueAfter, tc.want.requeue)
			}
			if p.finalize != tc.want.finalize {
				t.Errorf("finalize = %v, want %v", p.finalize, tc.want.finalize)
			}
			if !tc.task.DeletionTimestamp.IsZero() {
				return
			}
			prev := before.Status.State
			if prev == "" {
				prev = v1.Pending
			}
			newRun := before.Generation != before.Status.ObservedGeneration && before.Spec.DesiredState == v1.Running
			if !newRun && !v1.CanTransition(prev, p.status.State) {
				t.Errorf("transition %s -> %s is outside the seed's table", prev, p.status.State)
			}
			if p.status.ObservedGeneration != tc.task.Generation {
				t.Errorf("observedGeneration = %d, want %d", p.status.ObservedGeneration, tc.task.Generation)
			}
			if before.Status.State != tc.task.Status.State || before.Status.RestartCount != tc.task.Status.RestartCount {
				t.Errorf("decide mutated its input task")
			}
		})
	}
}

func TestDecide_TaskGone_RemovesOrphans(t *testing.T) {
	task := newTestTask()
	p := decide(observation{containers: []runtime.Container{ctr(task, runtime.StateRunning)}, now: t0, backoff: testPolicy()})
	if got := kinds(p.actions); !equalKinds(got, []actionKind{actionRemove}) {
		t.Fatalf("actions = %v, want one remove", got)
	}
}

func TestDecide_CrashLoop_ReportsNextRetry(t *testing.T) {
	task := newTestTask()
	c := ctr(task, runtime.StateExited, exitCode(3))
	p := decide(observation{task: task, containers: []runtime.Container{c}, now: t0, backoff: testPolicy(), jitter: func() float64 { return 0 }})
	if p.status.NextRetryTime == nil {
		t.Fatal("nextRetryTime is unset during CrashLoopBackOff")
	}
	wantRetry := c.FinishedAt.Add(time.Second)
	if got := p.requeueAfter; got != wantRetry.Sub(t0) {
		t.Errorf("requeueAfter = %s, want %s", got, wantRetry.Sub(t0))
	}
	if p.restart.Crashes != 1 || !p.restart.Exit.Equal(c.FinishedAt) || p.restart.Restarted {
		t.Errorf("record = %+v, want one crash at the exit, not restarted", p.restart)
	}
	// The same exit seen again after the back-off restarts exactly once.
	again := decide(observation{task: task, containers: []runtime.Container{c}, now: wantRetry, restart: p.restart, backoff: testPolicy(), jitter: func() float64 { return 0 }})
	if got := kinds(again.actions); !equalKinds(got, []actionKind{actionRestart}) || again.status.RestartCount != 1 || !again.restart.Restarted {
		t.Fatalf("after back-off: actions %v restartCount %d record %+v", got, again.status.RestartCount, again.restart)
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

func TestNextRecord_CountsEachExitOnceAndResetsAfterSteadyRun(t *testing.T) {
	p := testPolicy()
	zero := func() float64 { return 0 }
	r := nextRecord(restartRecord{}, t0, t0.Add(time.Second), p, zero)
	if r.Crashes != 1 {
		t.Fatalf("first quick crash: crashes = %d, want 1", r.Crashes)
	}
	if again := nextRecord(r, t0, t0.Add(time.Second), p, zero); again != r {
		t.Fatalf("same exit counted twice: %+v", again)
	}
	r = nextRecord(r, t0.Add(2*time.Second), t0.Add(3*time.Second), p, zero)
	if r.Crashes != 2 {
		t.Fatalf("second quick crash: crashes = %d, want 2", r.Crashes)
	}
	r = nextRecord(r, t0.Add(time.Hour), t0.Add(2*time.Hour), p, zero)
	if r.Crashes != 0 {
		t.Fatalf("crash after a steady run: crashes = %d, want 0", r.Crashes)
	}
}

func TestSpecHash_IgnoresDesiredStateAndPolicies(t *testing.T) {
	base := newTestTask()
	h := specHash(&base.Spec)
	same := []taskOpt{desired(v1.Completed), policy(v1.RestartNever), func(t *v1.Task) { t.Spec.ImagePullPolicy = v1.PullNever }, func(t *v1.Task) { t.Labels = map[string]string{"a": "b"} }}
	for i, o := range same {
		if got := specHash(&newTestTask(o).Spec); got != h {
			t.Errorf("change %d altered the hash", i)
		}
	}
	differ := []taskOpt{func(t *v1.Task) { t.Spec.Image = "other" }, func(t *v1.Task) { t.Spec.Args = []string{"x"} }, restartGeneration(1),
		func(t *v1.Task) { t.Spec.Env = []v1.EnvVar{{Name: "A", Value: "1"}} }}
	for i, o := range differ {
		if got := specHash(&newTestTask(o).Spec); got == h {
			t.Errorf("change %d kept the hash", i)
		}
	}
}

func one(st runtime.ContainerState, opts ...containerOpt) func(*v1.Task) []runtime.Container {
	return func(task *v1.Task) []runtime.Container { return []runtime.Container{ctr(task, st, opts...)} }
}

func none(*v1.Task) []runtime.Container { return nil }

func kinds(actions []action) []actionKind {
	var out []actionKind
	for _, a := range actions {
		out = append(out, a.kind)
	}
	return out
}

func equalKinds(a, b []actionKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDecide_NewRunObservedRunning_RecordsTheStepThroughScheduled(t *testing.T) {
	task := newTestTask(fresh())
	p := decide(observation{task: task, containers: []runtime.Container{ctr(task, runtime.StateRunning)}, now: t0, backoff: testPolicy()})
	var got []string
	for _, tr := range p.status.Transitions {
		got = append(got, string(tr.From)+">"+string(tr.To))
	}
	if p.status.State != v1.Running || len(got) != 2 || got[0] != "Pending>Scheduled" || got[1] != "Scheduled>Running" {
		t.Fatalf("state %s transitions %v, want Running via Pending>Scheduled, Scheduled>Running", p.status.State, got)
	}
}
