package controller

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
)

// actionKind names one engine operation; the reconcile log uses these words.
type actionKind string

const (
	actionCreate  actionKind = "create"  // pull per policy, create, start: one attempt of a run
	actionStart   actionKind = "start"   // start a created container that never ran
	actionRestart actionKind = "restart" // create and start the next attempt under the restart policy
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
	// ReasonUnhealthy: the liveness (or startup) probe failed; the
	// container is stopped and restarted under the restart policy.
	ReasonUnhealthy = "Unhealthy"
	// ReasonExited: a container of a task a Cube manager restarts exited
	// with code 0; it is reported Failed, as Cube's worker reports every
	// exited container, so that the manager restarts it.
	ReasonExited = "Exited"
)

// pullMode is when a create makes its image available, decided from the
// task's imagePullPolicy.
type pullMode string

const (
	// pullIfMissing creates first and pulls only when the engine reports
	// the image missing, as `docker run` does: no lookup on the common path.
	pullIfMissing pullMode = "if-missing"
	pullFirst     pullMode = "first"
	pullNever     pullMode = "never"
)

// action is one step of a plan: one engine call, except a create, which is
// `docker run`'s pull-if-needed, create and start of one attempt.
type action struct {
	kind actionKind
	// container is the ID acted on; for creates it is empty.
	container string
	// name is the container's name: the key cubelet's expectations use.
	name  string
	spec  runtime.ContainerSpec
	pull  pullMode
	grace time.Duration
	// unpinned is the spec's ports without the host ports kept from the
	// previous attempt: used when those are no longer free.
	unpinned []runtime.PortBinding
	why      string
}

func (a action) String() string {
	target := a.name
	if target == "" {
		target = shortID(a.container)
	}
	s := string(a.kind) + " " + target
	if a.kind == actionCreate || a.kind == actionRestart {
		s += " pull=" + string(a.pull)
	}
	return s + " (" + a.why + ")"
}

// plan is decide's answer: what to do, and the status to write once it is
// done.
type plan struct {
	actions []action
	status  v1.TaskStatus
	// crash is the task's crash-loop record after this plan.
	crash crashRecord
	// requeueAfter asks for another look after a back-off.
	requeueAfter time.Duration
	// finalize releases the task's finalizer once the actions succeeded.
	finalize bool
}

// String renders the plan for tests and debug logs: one action per line,
// then the resulting state.
func (p plan) String() string {
	var b strings.Builder
	for _, a := range p.actions {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "=> %s", p.status.State)
	if p.status.Reason != "" {
		fmt.Fprintf(&b, "/%s", p.status.Reason)
	}
	fmt.Fprintf(&b, " restarts=%d", p.status.RestartCount)
	if p.requeueAfter > 0 {
		fmt.Fprintf(&b, " requeue=%s", p.requeueAfter)
	}
	if p.finalize {
		b.WriteString(" finalize")
	}
	return b.String()
}

// observation is everything decide looks at.
type observation struct {
	// task is nil when the task no longer exists.
	task *v1.Task
	// containers are this instance's containers labelled with the task's
	// name, of any incarnation.
	containers []runtime.Container
	// instance is this cubelet's identity, stamped on what it creates.
	instance string
	// nodeName is this cubelet's node in a cluster; empty on a single
	// host, where every task is this cubelet's.
	nodeName string
	// fenced: this node's lease is not held (fence.go). Only stops and
	// removals are planned, and the status is left as it is.
	fenced bool
	// crash is the in-memory crash-loop record: only the back-off delay
	// lives in memory, as kubelet's does.
	crash crashRecord
	// health is what the prober knows of the task's containers, by ID.
	health  map[string]containerHealth
	now     time.Time
	backoff BackoffPolicy
	jitter  func() float64
}

// decide compares desired with observed state and returns the plan. It is a
// pure function of the task (its spec and durable status), the containers
// and their labels, and the clock: what ran, how often it restarted and how
// the last attempt ended are read from the containers, never remembered.
// A fenced node carries out only the stops and removals of the plan.
func decide(o observation) plan {
	p := decideTask(o)
	if o.fenced {
		return fencedPlan(o, p)
	}
	return p
}

// decideTask is decide's plan for a node that holds its lease.
func decideTask(o observation) plan {
	if o.task == nil {
		// The task is gone: its containers are orphans.
		return plan{actions: removeAll(o.containers, 0, "task no longer exists")}
	}
	task := o.task
	grace := graceOf(task)
	if o.nodeName != "" && task.Spec.NodeName != o.nodeName {
		return decideNotOurs(o, grace)
	}
	if task.DeletionTimestamp != nil {
		return plan{
			actions:  removeAll(o.containers, grace, "task is being deleted"),
			status:   task.Status,
			finalize: true,
		}
	}

	v := classify(task, o.containers)
	p := plan{crash: o.crash, status: *task.Status.DeepCopy()}
	p.status.RestartCount = v.restarts
	p.status.PreviousContainerID = ""
	if v.previous != nil {
		p.status.PreviousContainerID = v.previous.ID
	}
	p.actions = removeAll(v.stale, grace, "not the current or previous attempt")
	if prevC := v.previous; prevC != nil && prevC.Running() {
		p.actions = append(p.actions, action{kind: actionStop, container: prevC.ID, name: prevC.Name, grace: grace, why: "superseded by the current run"})
	}

	prev := task.Status.State
	if prev == "" {
		prev = v1.Pending
	}
	// statusNewRun: the durable status has not yet recorded this
	// generation's run; the state table then allows a fresh start.
	statusNewRun := task.Spec.DesiredState == v1.Running && task.Generation != task.Status.ObservedGeneration
	var target v1.State
	if task.Spec.DesiredState == v1.Completed {
		target = p.decideStopped(o, v.current, prev, grace)
	} else {
		target = p.decideRunning(o, v, prev, statusNewRun)
	}
	p.status.ObservedGeneration = task.Generation
	setState(&p.status, prev, target, statusNewRun, o.now)
	setConditions(&p.status, o.now, notReady(task, v.current, o.health))
	return p
}

// decideNotOurs is the plan for a task of a cluster that is not bound to
// this node. Its status and finalizer belong to the node it is bound to,
// so they are left untouched (the plan's status is the task's, which
// writes nothing). This node's own containers of a task bound to another
// node are removed: the task moved, and one copy must run, there. Those
// of an unbound task are left alone until the scheduler binds it: it may
// bind it here again, and removing first would restart it for nothing.
func decideNotOurs(o observation, grace time.Duration) plan {
	p := plan{status: o.task.Status}
	if o.task.Spec.NodeName != "" {
		p.actions = removeAll(o.containers, grace, "task bound to node "+o.task.Spec.NodeName)
	}
	return p
}

// taskContainers is the task's containers sorted into roles.
type taskContainers struct {
	// current is the latest attempt of the current run, or a container of
	// an earlier generation carried over into it (same spec hash, still
	// running: a change of restart policy does not replace it).
	current *runtime.Container
	// runBegun: the current generation's run has started, as its durable
	// status or one of its containers says.
	runBegun bool
	// previous is the newest container besides current, kept (stopped, if
	// it still runs: the run it belonged to was superseded) for
	// `logs --previous` until the attempt after it starts.
	previous *runtime.Container
	// stale are all the others: other incarnations, older attempts,
	// extra running containers. They are removed.
	stale []runtime.Container
	// newest is the most recent container of this incarnation.
	newest *runtime.Container
	// restarts is the restart count: the durable status's, or the highest
	// attempt label when a restart's status write was lost.
	restarts int32
}

// classify sorts a task's containers into their roles.
func classify(task *v1.Task, containers []runtime.Container) taskContainers {
	var v taskContainers
	var mine []runtime.Container
	for _, c := range containers {
		if c.Labels[LabelTaskUID] == string(task.UID) {
			mine = append(mine, c)
		} else {
			v.stale = append(v.stale, c)
		}
	}
	sort.Slice(mine, func(i, j int) bool { return newer(&mine[i], &mine[j]) })
	v.restarts = task.Status.RestartCount
	for i := range mine {
		v.restarts = max(v.restarts, attemptOf(&mine[i]))
	}
	if len(mine) > 0 {
		v.newest = &mine[0]
	}

	gen := task.Generation
	statusBegun := task.Status.ObservedGeneration == gen
	hash := specHash(&task.Spec)
	cur := -1
	for i := range mine {
		if runOf(&mine[i]) == gen {
			cur = i
			v.runBegun = true
			break
		}
	}
	if cur < 0 && task.Spec.DesiredState == v1.Completed && len(mine) > 0 {
		cur = 0 // stopping concerns whatever ran last
	}
	if cur < 0 {
		for i := range mine {
			c := &mine[i]
			if c.Labels[LabelSpecHash] != hash || runOf(c) > gen {
				continue
			}
			// Carried over: a running container whose spec is the one
			// asked for begins this run without a restart; once the
			// status names it, it is this run's container.
			if (!statusBegun && c.Running()) || (statusBegun && c.ID == task.Status.ContainerID) {
				cur = i
				break
			}
		}
	}
	v.runBegun = v.runBegun || statusBegun
	if cur >= 0 {
		v.current = &mine[cur]
	}
	for i := range mine {
		if i == cur {
			continue
		}
		c := &mine[i]
		if v.previous == nil && c.State != runtime.StateRemoving {
			// Kept (stopped, if it runs) rather than removed: its logs
			// stay readable, and its labels keep telling what ran before
			// until the next attempt exists.
			v.previous = c
			continue
		}
		v.stale = append(v.stale, *c)
	}
	return v
}

// newer orders a task's containers newest first: by attempt, then run, then
// creation time.
func newer(a, b *runtime.Container) bool {
	if x, y := attemptOf(a), attemptOf(b); x != y {
		return x > y
	}
	if x, y := runOf(a), runOf(b); x != y {
		return x > y
	}
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.After(b.CreatedAt)
	}
	return a.ID > b.ID
}

// decideRunning handles spec.desiredState Running.
func (p *plan) decideRunning(o observation, v taskContainers, prev v1.State, statusNewRun bool) v1.State {
	task := o.task
	c := v.current
	runOver := !statusNewRun && prev.Terminal()
	waiting := prev
	if statusNewRun {
		waiting = v1.Scheduled
	}
	if c == nil {
		clearContainer(&p.status)
		switch {
		case runOver:
			// A finished run stays finished, even if its container is gone.
			return prev
		case v.runBegun && prev == v1.Running && managerRestarts(task):
			// The Cube manager restarts, and it acts on Failed.
			p.status.Reason, p.status.Message = ReasonContainerMissing, "container disappeared; reported Failed for the Cube manager to restart"
			return v1.Failed
		case v.runBegun && prev == v1.Running:
			// Removed from outside mid-run: its replacement is the next
			// attempt, a restart.
			p.addCreate(o, v.restarts+1, task.Status.HostPorts, "container "+shortID(task.Status.ContainerID)+" disappeared")
			p.status.RestartCount = v.restarts + 1
			p.status.Reason, p.status.Message = ReasonContainerMissing, "container disappeared; recreating it"
			return v1.Running
		}
		attempt, why := v.restarts, "run of generation "+strconv.FormatInt(task.Generation, 10)
		if !v.runBegun && restartRequested(task, v.newest) {
			// Cube's restart: a fresh container on purpose, counted.
			attempt, why = v.restarts+1, "restartGeneration "+strconv.FormatInt(task.Spec.RestartGeneration, 10)
		}
		p.addCreate(o, attempt, nil, why)
		p.status.RestartCount = attempt
		p.status.Reason, p.status.Message, p.status.NextRetryTime = ReasonCreating, "", nil
		return v1.Scheduled
	}
	observeContainer(&p.status, c)

	switch {
	case c.State == runtime.StateRemoving:
		return waiting // the engine is removing it; its destroy event brings us back
	case c.State == runtime.StateCreated && runOver:
		return prev // a finished run does not start again
	case c.State == runtime.StateCreated:
		// Created and never started (cubelet stopped in between): starting
		// it is its first run, never a second one.
		p.actions = append(p.actions, action{kind: actionStart, container: c.ID, name: c.Name, why: "created but never started"})
		p.status.Reason, p.status.Message = ReasonCreating, ""
		if prev == v1.Running && !statusNewRun {
			return v1.Running
		}
		return v1.Scheduled
	case c.Running() && runOver:
		// The run has ended (restartPolicy said so); a container started
		// from outside does not reopen it.
		p.actions = append(p.actions, action{kind: actionStop, container: c.ID, name: c.Name, grace: graceOf(task), why: "run is " + string(prev)})
		return prev
	case c.Running() && o.health[c.ID].failed != "":
		// Kubelet's rule: a container that fails its liveness (or
		// startup) probe is stopped; its exit then goes through the
		// restart policy below, as any exit does.
		why := o.health[c.ID].failure()
		p.actions = append(p.actions, action{kind: actionStop, container: c.ID, name: c.Name, grace: graceOf(task), why: why})
		p.status.Reason, p.status.Message, p.status.NextRetryTime = ReasonUnhealthy, why, nil
		return v1.Running
	case c.Running():
		p.status.Reason, p.status.Message, p.status.NextRetryTime = "", "", nil
		return v1.Running
	}

	// The latest attempt has exited. killed: cubelet stopped it for a
	// failed probe, which restarts it whatever its exit code, unless the
	// policy is Never (kubelet's rule).
	health := o.health[c.ID]
	killed := health.failed != ""
	policy := restartPolicyOf(task)
	if runOver || !(shouldRestart(policy, c.ExitCode) || killed && policy != v1.RestartNever) {
		state, reason, message := exitOutcome(c)
		switch {
		case killed:
			state, reason, message = v1.Failed, ReasonUnhealthy, health.failure()
		case state == v1.Completed && managerRestarts(task):
			state, reason, message = v1.Failed, ReasonExited, exitMessage(c)+"; reported Failed for the Cube manager to restart, as Cube's worker does"
		}
		if runOver && (state != prev || task.Status.Reason == v1.ReasonNodeLost) {
			// A run the scheduler ended because its node was lost keeps
			// NodeLost: the exit seen now is that of a copy that should
			// no longer run (the fencing's stop, or its end unobserved).
			return prev
		}
		// Within a finished run this still refreshes the reason: Docker
		// may record an OOM kill a moment after the exit.
		p.status.Reason, p.status.Message, p.status.NextRetryTime = reason, message, nil
		return state
	}

	// The ports the attempt held stay the task's while it restarts.
	p.status.HostPorts = task.Status.HostPorts
	p.crash = nextCrash(o.crash, task, c, o.backoff, o.jitter)
	crashes := p.crash.crashes
	if killed && crashes > 0 {
		// The first restart after a probe failure is immediate: the probe
		// already waited periodSeconds × failureThreshold. Consecutive
		// ones back off as crashes do.
		crashes--
	}
	retryAt := c.FinishedAt.Add(o.backoff.delay(crashes, p.crash.jitter))
	if o.now.Before(retryAt) {
		p.requeueAfter = retryAt.Sub(o.now)
		p.status.Reason = ReasonCrashLoopBackOff
		p.status.Message = fmt.Sprintf("back-off %s restarting failed container: %s",
			retryAt.Sub(c.FinishedAt).Round(time.Millisecond), exitMessage(c))
		p.status.NextRetryTime = metaTime(retryAt)
		return v1.Running
	}
	why := exitMessage(c)
	if killed {
		why = health.failure()
	}
	p.addCreate(o, v.restarts+1, task.Status.HostPorts, fmt.Sprintf("restartPolicy %s after %s", task.Spec.RestartPolicy, why))
	p.actions[len(p.actions)-1].kind = actionRestart
	p.status.RestartCount = v.restarts + 1
	p.status.Reason, p.status.Message, p.status.NextRetryTime = "", "", nil
	if killed {
		// The restart is Running to Running: the transition is recorded
		// by hand, so the status keeps why it happened after the new
		// attempt clears the reason.
		p.status.Reason, p.status.Message = ReasonUnhealthy, why
		p.status.Transitions = append(p.status.Transitions, v1.Transition{From: v1.Running, To: v1.Running, Reason: ReasonUnhealthy, Time: *metaTime(o.now)})
	}
	return v1.Running
}

// managerRestarts reports whether the task's restarts belong to a Cube
// manager (docs/cube-compat.md): cubelet then restarts nothing by itself
// and reports every exit and failure to start as Failed.
func managerRestarts(task *v1.Task) bool {
	return task.Annotations[v1.AnnotationRestartAuthority] == v1.RestartAuthorityCubeManager
}

// restartPolicyOf is the policy cubelet applies: the spec's, or Never for
// a task whose manager restarts it (its spec keeps the manager's policy,
// which is the manager's to apply).
func restartPolicyOf(task *v1.Task) v1.RestartPolicy {
	if managerRestarts(task) {
		return v1.RestartNever
	}
	return task.Spec.RestartPolicy
}

// addCreate plans the container of attempt of the task's current run. Host
// ports Docker picked for an earlier attempt (keep) are asked for again, so
// clients keep finding the task where it was; unpinned is the fallback
// when they are taken meanwhile.
func (p *plan) addCreate(o observation, attempt int32, keep []v1.HostPort, why string) {
	task := o.task
	spec := containerSpec(o.instance, task, attempt)
	a := action{kind: actionCreate, name: spec.Name, pull: pullModeOf(task.Spec.ImagePullPolicy), grace: graceOf(task), why: why}
	if pinned, ok := pinPorts(spec.Ports, keep); ok {
		a.unpinned = spec.Ports
		spec.Ports = pinned
	}
	a.spec = spec
	p.actions = append(p.actions, a)
}

// pinPorts replaces the engine-chosen host ports (HostPort 0) of ports with
// those an earlier attempt was given, and reports whether any was.
func pinPorts(ports []runtime.PortBinding, kept []v1.HostPort) ([]runtime.PortBinding, bool) {
	pinned := false
	out := make([]runtime.PortBinding, len(ports))
	copy(out, ports)
	for i := range out {
		if out[i].HostPort != 0 {
			continue
		}
		for _, k := range kept {
			if int(k.ContainerPort) == out[i].ContainerPort && protocolOf(out[i].Protocol) == k.Protocol && k.HostPort != 0 {
				out[i].HostPort = int(k.HostPort)
				pinned = true
				break
			}
		}
	}
	return out, pinned
}

func pullModeOf(policy v1.PullPolicy) pullMode {
	switch policy {
	case v1.PullAlways:
		return pullFirst
	case v1.PullNever:
		return pullNever
	default:
		return pullIfMissing
	}
}

// decideStopped handles spec.desiredState Completed: stop and keep stopped.
func (p *plan) decideStopped(o observation, c *runtime.Container, prev v1.State, grace time.Duration) v1.State {
	p.status.NextRetryTime = nil
	if c == nil {
		clearContainer(&p.status)
	} else {
		observeContainer(&p.status, c)
		if c.Running() || c.State == runtime.StateCreated {
			p.actions = append(p.actions, action{kind: actionStop, container: c.ID, name: c.Name, grace: grace, why: "desiredState is Completed"})
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

// restartRequested reports whether a new run was asked for by bumping
// spec.restartGeneration (Cube's restart) after an earlier container.
func restartRequested(task *v1.Task, newest *runtime.Container) bool {
	if newest == nil {
		return false
	}
	gen, err := strconv.ParseInt(newest.Labels[LabelRestartGeneration], 10, 64)
	return err == nil && gen < task.Spec.RestartGeneration
}

func removeAll(containers []runtime.Container, grace time.Duration, why string) []action {
	var actions []action
	for _, c := range containers {
		actions = append(actions, action{kind: actionRemove, container: c.ID, name: c.Name, grace: grace, why: why})
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
