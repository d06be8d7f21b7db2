package controller

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
)

// actionKind names one engine operation; the reconcile log uses these words.
type actionKind string

const (
	actionCreate  actionKind = "create"  // make the image available, create, start
	actionStart   actionKind = "start"   // start a created container, or an exited one for a new run
	actionRestart actionKind = "restart" // start an exited container again under the restart policy
	actionStop    actionKind = "stop"    // SIGTERM, SIGKILL after the grace period
	actionRemove  actionKind = "remove"  // stop as above, then remove
	actionAdopt   actionKind = "adopt"   // logged when a create meets its own container
	actionNone    actionKind = "none"
)

// Status reasons set by decide.
const (
	ReasonCrashLoopBackOff = "CrashLoopBackOff"
	ReasonCompleted        = "Completed"
	ReasonError            = "Error"
	ReasonOOMKilled        = "OOMKilled"
	ReasonStopped          = "Stopped"
	ReasonContainerMissing = "ContainerMissing"
	ReasonCreating         = "ContainerCreating"
	// ReasonCreateContainerError and ReasonRunContainerError carry the
	// engine's refusal to create or start a container (a taken host port,
	// a bad command) while cubelet retries with back-off.
	ReasonCreateContainerError = "CreateContainerError"
	ReasonRunContainerError    = "RunContainerError"
)

// action is exactly one engine call (create includes its image pull and
// start, the way `docker run` does).
type action struct {
	kind      actionKind
	container string // ID; for create, the deterministic name
	spec      runtime.ContainerSpec
	grace     time.Duration
	why       string
}

// plan is decide's answer: what to do, and the status to write once it is
// done.
type plan struct {
	actions []action
	status  v1.TaskStatus
	// restart is the task's crash-loop record after this plan.
	restart restartRecord
	// requeueAfter asks for another look after a back-off.
	requeueAfter time.Duration
	// finalize releases the task's finalizer once the actions succeeded.
	finalize bool
	// waited: nothing was decided; the container cache has yet to show
	// cubelet's own new container.
	waited bool
}

// observation is everything decide looks at.
type observation struct {
	// task is nil when the task no longer exists.
	task *v1.Task
	// containers are the managed containers labelled with the task's name.
	containers []runtime.Container
	restart    restartRecord
	now        time.Time
	backoff    BackoffPolicy
	jitter     func() float64
}

// decide compares desired with observed state and returns the plan. It is a
// pure function: no engine, no store, no clock but o.now.
func decide(o observation) plan {
	if o.task == nil {
		// The task is gone: its containers are orphans.
		return plan{actions: removeAll(o.containers, 0, "task no longer exists")}
	}
	task := o.task
	grace := graceOf(task)
	if wait, ok := awaitOwnContainer(o); ok {
		return wait
	}
	if task.DeletionTimestamp != nil {
		return plan{
			actions:  removeAll(o.containers, grace, "task is being deleted"),
			status:   task.Status,
			finalize: true,
		}
	}

	hash := specHash(&task.Spec)
	current, stale := splitContainers(task, hash, o.containers)
	p := plan{restart: o.restart, status: *task.Status.DeepCopy()}
	// Restarts made earlier whose status write did not land count now.
	p.status.RestartCount += o.restart.Uncounted
	p.restart.Uncounted = 0
	if started := findContainer(o.containers, o.restart.Started); started != nil && started.State != runtime.StateCreated {
		p.restart.Started, p.restart.StartedAt = "", time.Time{} // the cache has caught up
	}
	p.actions = removeAll(stale, grace, "replaced by spec "+hash)

	prev := task.Status.State
	if prev == "" {
		prev = v1.Pending
	}
	newRun := task.Spec.DesiredState == v1.Running && task.Generation != task.Status.ObservedGeneration
	if newRun && restartRequested(task, stale) {
		p.countRestart(fmt.Sprintf("restartGeneration %d", task.Spec.RestartGeneration))
	}

	var target v1.State
	if task.Spec.DesiredState == v1.Completed {
		target = p.decideStopped(o, current, prev, grace)
	} else {
		target = p.decideRunning(o, current, prev, newRun, hash, grace)
	}
	p.status.ObservedGeneration = task.Generation
	setState(&p.status, prev, target, newRun, o.now)
	setConditions(&p.status, o.now)
	return p
}

// decideRunning handles spec.desiredState Running.
func (p *plan) decideRunning(o observation, c *runtime.Container, prev v1.State, newRun bool, hash string, grace time.Duration) v1.State {
	task := o.task
	runOver := prev.Terminal() && !newRun
	switch {
	case c == nil && runOver:
		// A finished run stays finished, even if its container is gone.
		return prev
	case c == nil:
		p.actions = append(p.actions, action{kind: actionCreate, container: containerName(task, hash),
			spec: containerSpec(task, hash), grace: grace, why: "no container for spec " + hash})
		clearContainer(&p.status)
		if prev == v1.Running && !newRun {
			// Removed from outside mid-run: recreating it is a restart,
			// counted once. A status already saying ContainerMissing has
			// counted it; the container cache just has not seen the
			// replacement yet (the create meets it as a name conflict).
			if task.Status.Reason != ReasonContainerMissing {
				p.countRestart("missing " + task.Status.ContainerID)
			}
			p.status.Reason, p.status.Message = ReasonContainerMissing, "container disappeared; recreating it"
			return v1.Running
		}
		p.status.Reason, p.status.Message = ReasonCreating, ""
		return v1.Scheduled
	}
	observeContainer(&p.status, c)

	switch {
	case c.State == runtime.StateRemoving:
		return waiting(prev, newRun) // the engine is removing it; its destroy event brings us back
	case c.State == runtime.StateCreated && o.restart.Started == c.ID:
		return waiting(prev, newRun) // cubelet started it already; the start event is on its way
	case c.State == runtime.StateCreated && runOver:
		return prev // a finished run does not start again
	case c.State == runtime.StateCreated:
		p.actions = append(p.actions, action{kind: actionStart, container: c.ID, why: "container created but not started"})
		p.status.Reason, p.status.Message = ReasonCreating, ""
		if prev == v1.Running {
			return v1.Running
		}
		return v1.Scheduled
	case c.Running() && runOver:
		// The run has ended (restartPolicy said so); a container started
		// from outside does not reopen it.
		p.actions = append(p.actions, action{kind: actionStop, container: c.ID, grace: grace, why: "run is " + string(prev)})
		return prev
	case c.Running():
		p.restart.CountedFor = ""
		p.status.Reason, p.status.Message, p.status.NextRetryTime = "", "", nil
		return v1.Running
	}

	// The container has exited.
	if o.restart.Restarted && o.restart.Exit.Equal(c.FinishedAt) {
		// cubelet started it again already; the cache has not seen it yet.
		return waiting(prev, newRun)
	}
	if newRun {
		p.restart = restartRecord{Exit: c.FinishedAt, Restarted: true}
		p.actions = append(p.actions, action{kind: actionStart, container: c.ID, why: "new run of generation " + strconv.FormatInt(task.Generation, 10)})
		p.status.Reason, p.status.Message, p.status.NextRetryTime = "", "", nil
		return v1.Scheduled
	}
	if runOver || !shouldRestart(task.Spec.RestartPolicy, c.ExitCode) {
		state, reason, message := exitOutcome(c)
		if runOver && state != prev {
			return prev
		}
		// Within a finished run this still refreshes the reason: Docker
		// may record an OOM kill a moment after the exit.
		p.status.Reason, p.status.Message, p.status.NextRetryTime = reason, message, nil
		return state
	}

	p.restart = nextRecord(o.restart, c.StartedAt, c.FinishedAt, o.backoff, o.jitter)
	retryAt := c.FinishedAt.Add(o.backoff.delay(p.restart.Crashes, p.restart.Jitter))
	if o.now.Before(retryAt) {
		p.requeueAfter = retryAt.Sub(o.now)
		p.status.Reason = ReasonCrashLoopBackOff
		p.status.Message = fmt.Sprintf("back-off %s restarting failed container: %s",
			retryAt.Sub(c.FinishedAt).Round(time.Millisecond), exitMessage(c))
		p.status.NextRetryTime = metaTime(retryAt)
		return v1.Running
	}
	p.restart.Restarted = true
	p.actions = append(p.actions, action{kind: actionRestart, container: c.ID,
		why: fmt.Sprintf("restartPolicy %s after %s", task.Spec.RestartPolicy, exitMessage(c))})
	p.status.RestartCount++
	p.status.Reason, p.status.Message, p.status.NextRetryTime = "", "", nil
	return v1.Running
}

// cacheLagLimit bounds how long decide waits for the container cache to
// show a container cubelet created: one removed from outside before the
// cache ever saw it must not stall its task for longer.
const cacheLagLimit = 10 * time.Second

// cacheLagRetry is how soon a task waiting for the cache is looked at again.
const cacheLagRetry = 100 * time.Millisecond

// awaitOwnContainer holds the decision while the container cache has not yet
// shown the container cubelet just created: deciding without it could
// create a second container for a changed spec, or release a deleted task
// whose container still runs. Deterministic names catch the rest.
func awaitOwnContainer(o observation) (plan, bool) {
	id := o.restart.Started
	if id == "" || findContainer(o.containers, id) != nil || o.now.Sub(o.restart.StartedAt) >= cacheLagLimit {
		return plan{}, false
	}
	p := plan{restart: o.restart, status: *o.task.Status.DeepCopy(), requeueAfter: cacheLagRetry, waited: true}
	p.status.RestartCount += o.restart.Uncounted
	p.restart.Uncounted = 0
	return p, true
}

func findContainer(containers []runtime.Container, id string) *runtime.Container {
	if id == "" {
		return nil
	}
	for i := range containers {
		if containers[i].ID == id {
			return &containers[i]
		}
	}
	return nil
}

// waiting is the state while the container cache catches up with what
// cubelet did: unchanged, except that a new run has begun.
func waiting(prev v1.State, newRun bool) v1.State {
	if newRun {
		return v1.Scheduled
	}
	return prev
}

// countRestart counts a restart once per cause, however often a failed
// action makes decide see the same cause again.
func (p *plan) countRestart(cause string) {
	if p.restart.CountedFor == cause {
		return
	}
	p.status.RestartCount++
	p.restart.CountedFor = cause
}

// decideStopped handles spec.desiredState Completed: stop and keep stopped.
func (p *plan) decideStopped(o observation, c *runtime.Container, prev v1.State, grace time.Duration) v1.State {
	p.status.NextRetryTime = nil
	if c == nil {
		clearContainer(&p.status)
	} else {
		observeContainer(&p.status, c)
		if c.Running() || c.State == runtime.StateCreated {
			p.actions = append(p.actions, action{kind: actionStop, container: c.ID, grace: grace, why: "desiredState is Completed"})
			if p.status.FinishTime == nil {
				p.status.FinishTime = metaTime(o.now)
			}
		}
	}
	if prev == v1.Failed {
		return v1.Failed
	}
	if prev != v1.Completed {
		p.status.Reason, p.status.Message = ReasonStopped, "stopped on request"
	}
	return v1.Completed
}

// splitContainers picks the task's current container (its UID and spec
// hash; the newest when several claim it) and returns every other one as
// stale.
func splitContainers(task *v1.Task, hash string, containers []runtime.Container) (*runtime.Container, []runtime.Container) {
	var matching, stale []runtime.Container
	for _, c := range containers {
		if c.Labels[LabelTaskUID] == string(task.UID) && c.Labels[LabelSpecHash] == hash {
			matching = append(matching, c)
		} else {
			stale = append(stale, c)
		}
	}
	if len(matching) == 0 {
		return nil, stale
	}
	sort.Slice(matching, func(i, j int) bool {
		if !matching[i].CreatedAt.Equal(matching[j].CreatedAt) {
			return matching[i].CreatedAt.After(matching[j].CreatedAt)
		}
		return matching[i].ID < matching[j].ID
	})
	current := matching[0]
	return &current, append(stale, matching[1:]...)
}

// restartRequested reports whether this new run was asked for by bumping
// spec.restartGeneration (Cube's restart) while an older container existed.
func restartRequested(task *v1.Task, stale []runtime.Container) bool {
	for _, c := range stale {
		if c.Labels[LabelTaskUID] != string(task.UID) {
			continue
		}
		gen, err := strconv.ParseInt(c.Labels[LabelRestartGeneration], 10, 64)
		if err == nil && gen < task.Spec.RestartGeneration {
			return true
		}
	}
	return false
}

func removeAll(containers []runtime.Container, grace time.Duration, why string) []action {
	var actions []action
	for _, c := range containers {
		actions = append(actions, action{kind: actionRemove, container: c.ID, grace: grace, why: why})
	}
	return actions
}

// exitOutcome is how a run ends with this exit when nothing restarts it.
func exitOutcome(c *runtime.Container) (v1.State, string, string) {
	switch {
	case c.OOMKilled:
		return v1.Failed, ReasonOOMKilled, "container exceeded its memory limit"
	case c.ExitCode == 0:
		return v1.Completed, ReasonCompleted, ""
	default:
		return v1.Failed, ReasonError, exitMessage(c)
	}
}

func shouldRestart(policy v1.RestartPolicy, exitCode int) bool {
	switch policy {
	case v1.RestartAlways:
		return true
	case v1.RestartOnFailure:
		return exitCode != 0
	default:
		return false
	}
}

func graceOf(task *v1.Task) time.Duration {
	if g := task.Spec.StopGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return time.Duration(v1.DefaultStopGracePeriodSeconds) * time.Second
}

func exitMessage(c *runtime.Container) string {
	msg := fmt.Sprintf("exit code %d", c.ExitCode)
	if c.OOMKilled {
		msg += " (OOMKilled)"
	}
	if c.Error != "" {
		msg += ": " + c.Error
	}
	return msg
}
