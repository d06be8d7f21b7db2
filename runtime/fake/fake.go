// Package fake is an in-memory container engine with the method set of
// runtime.Docker, for tests and in-process benchmarks of the controller.
//
// It keeps Docker's observable rules where the controller depends on them:
// unique names (runtime.ErrNameConflict), runtime.ErrNotFound for missing
// containers and images, idempotent start and stop, force remove that
// ignores missing containers, published ports that exist only while a
// container runs, and the events Docker emits (create, start, kill, die,
// stop, oom, destroy, rename). Test hooks simulate what happens outside the
// controller: crashes (Exit), images appearing or failing to pull,
// renames, latency. It must not grow behaviour the real engine lacks.
//
// Every method is safe for concurrent use and O(1) except ListContainers,
// which is O(containers).
package fake

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cubelet/cubelet/runtime"
)

// Method names, as counted by Calls and used by SetLatency.
const (
	MethodListContainers   = "ListContainers"
	MethodInspectContainer = "InspectContainer"
	MethodEvents           = "Events"
	MethodCreateContainer  = "CreateContainer"
	MethodStartContainer   = "StartContainer"
	MethodStopContainer    = "StopContainer"
	MethodRemoveContainer  = "RemoveContainer"
	MethodPullImage        = "PullImage"
	MethodContainerLogs    = "ContainerLogs"
	MethodContainerStats   = "ContainerStats"
	MethodExec             = "Exec"
)

// firstHostPort is where ports chosen by the engine start, as in Docker's
// default ephemeral range.
const firstHostPort = 32768

// Option configures a Runtime.
type Option func(*Runtime)

// WithNow sets the clock used for container and event times.
func WithNow(now func() time.Time) Option {
	return func(r *Runtime) { r.now = now }
}

// WithLatency delays every call by d, as a slow daemon would.
func WithLatency(d time.Duration) Option {
	return func(r *Runtime) { r.latency[""] = d }
}

// WithImages makes the given image references present from the start.
func WithImages(refs ...string) Option {
	return func(r *Runtime) {
		for _, ref := range refs {
			r.images[ref] = true
		}
	}
}

// WithContainerIP gives every running container the address ip, where
// probes reach it (127.0.0.1 by default, so a test can serve a probe from
// an httptest server). The empty string gives none, as a container
// without a network has.
func WithContainerIP(ip string) Option {
	return func(r *Runtime) { r.ip = ip }
}

// ExecFunc answers an exec in a running container: the exit code and the
// output.
type ExecFunc func(c runtime.Container, cmd []string) (exitCode int, output string)

// Runtime is the in-memory engine. The zero value is not usable; call New.
type Runtime struct {
	mu sync.Mutex

	now     func() time.Time
	latency map[string]time.Duration // by method; "" applies to all

	seq       uint64
	byID      map[string]*entry
	byName    map[string]*entry
	images    map[string]bool
	pullErrs  map[string]error
	pulls     map[string]int
	calls     map[string]int
	hostPorts map[string]string // "proto/port" -> container ID
	nextPort  int
	subs      map[*subscriber]struct{}
	ip        string
	exec      ExecFunc
}

type entry struct {
	seq  uint64
	c    runtime.Container
	spec runtime.ContainerSpec
	logs string
	// stats is what ContainerStats reads while the container runs (SetStats).
	stats runtime.Stats
}

type subscriber struct {
	key, value string
	events     chan runtime.Event
	errs       chan error
	done       bool
}

// New returns an empty engine with no images; see SetImage and WithImages.
func New(opts ...Option) *Runtime {
	r := &Runtime{
		now:       time.Now,
		latency:   map[string]time.Duration{},
		byID:      map[string]*entry{},
		byName:    map[string]*entry{},
		images:    map[string]bool{},
		pullErrs:  map[string]error{},
		pulls:     map[string]int{},
		calls:     map[string]int{},
		hostPorts: map[string]string{},
		nextPort:  firstHostPort,
		subs:      map[*subscriber]struct{}{},
		ip:        "127.0.0.1",
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// ---- test hooks ----

// SetImage makes ref present in, or absent from, the image store.
func (r *Runtime) SetImage(ref string, present bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if present {
		r.images[ref] = true
	} else {
		delete(r.images, ref)
	}
}

// FailPull makes every pull of ref fail with err until it is called again
// with a nil err. Without it a pull always succeeds.
func (r *Runtime) FailPull(ref string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.pullErrs, ref)
	} else {
		r.pullErrs[ref] = err
	}
}

// SetLatency delays every later call of method (one of the Method
// constants; "" for all methods) by d. Zero removes the delay.
func (r *Runtime) SetLatency(method string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d == 0 {
		delete(r.latency, method)
	} else {
		r.latency[method] = d
	}
}

// SetExec scripts what Exec answers (exec probes); without it every exec
// exits 0 with no output.
func (r *Runtime) SetExec(f ExecFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.exec = f
}

// SetLogs sets the output ContainerLogs returns for a container.
func (r *Runtime) SetLogs(idOrName, logs string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.lookup(idOrName)
	if !ok {
		return notFound("set logs", idOrName)
	}
	e.logs = logs
	return nil
}

// Exit simulates the container's process ending by itself: a crash, a
// completed job or an OOM kill. The container is exited with code and
// FinishedAt now, its ports are released, and "oom" (when oom) and "die"
// are emitted. Exiting a container that is not running is an error.
func (r *Runtime) Exit(idOrName string, code int, oom bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.lookup(idOrName)
	if !ok {
		return notFound("exit", idOrName)
	}
	if !e.c.Running() {
		return fmt.Errorf("exit container %s: not running (%s)", idOrName, e.c.State)
	}
	if oom {
		r.emit(e, runtime.EventOOM)
	}
	r.exit(e, code, oom)
	return nil
}

// Rename renames a container, as someone outside cubelet might, and emits
// "rename".
func (r *Runtime) Rename(idOrName, newName string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.lookup(idOrName)
	if !ok {
		return notFound("rename", idOrName)
	}
	if other, taken := r.byName[newName]; taken && other != e {
		return fmt.Errorf("rename container %s to %s: %w", idOrName, newName, runtime.ErrNameConflict)
	}
	delete(r.byName, e.c.Name)
	e.c.Name = newName
	r.byName[newName] = e
	r.emit(e, runtime.EventRename)
	return nil
}

// CutEvents ends every current event subscription with err, as a dropped
// connection to the daemon or a daemon restart would.
func (r *Runtime) CutEvents(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.subs {
		r.endSubscriber(s, err)
	}
}

// Calls returns how many times each method was called (see the Method
// constants).
func (r *Runtime) Calls() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.calls)
}

// CallCount returns how many times method was called.
func (r *Runtime) CallCount(method string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[method]
}

// Pulls returns how many times ref was pulled, failed pulls included.
func (r *Runtime) Pulls(ref string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pulls[ref]
}

// Len returns how many containers exist.
func (r *Runtime) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byID)
}

// ---- the engine ----

// Ping always succeeds.
func (r *Runtime) Ping(ctx context.Context) error { return ctx.Err() }

// Close does nothing.
func (r *Runtime) Close() error { return nil }

// ListContainers returns copies of the containers carrying
// labelKey=labelValue (all of them when labelKey is empty), newest first.
func (r *Runtime) ListContainers(ctx context.Context, labelKey, labelValue string) ([]runtime.Container, error) {
	if err := r.enter(ctx, MethodListContainers); err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	r.mu.Lock()
	entries := make([]*entry, 0, len(r.byID))
	for _, e := range r.byID {
		if matches(e.c.Labels, labelKey, labelValue) {
			entries = append(entries, e)
		}
	}
	slices.SortFunc(entries, func(a, b *entry) int {
		switch {
		case a.seq > b.seq:
			return -1
		case a.seq < b.seq:
			return 1
		}
		return 0
	})
	out := make([]runtime.Container, len(entries))
	for i, e := range entries {
		out[i] = snapshot(e)
	}
	r.mu.Unlock()
	return out, nil
}

// InspectContainer returns a copy of one container, by ID or name.
func (r *Runtime) InspectContainer(ctx context.Context, idOrName string) (runtime.Container, error) {
	if err := r.enter(ctx, MethodInspectContainer); err != nil {
		return runtime.Container{}, fmt.Errorf("inspect container %s: %w", idOrName, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.lookup(idOrName)
	if !ok {
		return runtime.Container{}, notFound("inspect", idOrName)
	}
	return snapshot(e), nil
}

// Events streams events of containers carrying labelKey=labelValue (all
// when labelKey is empty) with the contract of runtime.Docker.Events: events
// are never waited for; a subscriber runtime.EventBuffer events behind gets
// runtime.ErrEventsOverflow; ctx's end yields ctx.Err(); exactly one error,
// then both channels close.
func (r *Runtime) Events(ctx context.Context, labelKey, labelValue string) (<-chan runtime.Event, <-chan error) {
	s := &subscriber{
		key:    labelKey,
		value:  labelValue,
		events: make(chan runtime.Event, runtime.EventBuffer),
		errs:   make(chan error, 1),
	}
	if err := r.enter(ctx, MethodEvents); err != nil {
		s.errs <- err
		close(s.events)
		close(s.errs)
		return s.events, s.errs
	}
	r.mu.Lock()
	r.subs[s] = struct{}{}
	r.mu.Unlock()
	go func() {
		<-ctx.Done()
		r.mu.Lock()
		defer r.mu.Unlock()
		r.endSubscriber(s, ctx.Err())
	}()
	return s.events, s.errs
}

// CreateContainer creates a container in state "created" and emits "create".
func (r *Runtime) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	if err := r.enter(ctx, MethodCreateContainer); err != nil {
		return "", fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.images[spec.Image] {
		return "", fmt.Errorf("create container %s: no such image %s: %w", spec.Name, spec.Image, runtime.ErrNotFound)
	}
	r.seq++
	id := fmt.Sprintf("%064x", r.seq)
	name := strings.TrimPrefix(spec.Name, "/")
	if name == "" {
		name = fmt.Sprintf("fake_%d", r.seq)
	}
	if _, taken := r.byName[name]; taken {
		return "", fmt.Errorf("create container %s: conflict: the name is in use: %w", name, runtime.ErrNameConflict)
	}
	e := &entry{
		seq:  r.seq,
		spec: cloneSpec(spec),
		c: runtime.Container{
			ID:        id,
			Name:      name,
			Image:     spec.Image,
			Labels:    maps.Clone(spec.Labels),
			State:     runtime.StateCreated,
			CreatedAt: r.now(),
		},
	}
	r.byID[id] = e
	r.byName[name] = e
	r.emit(e, runtime.EventCreate)
	return id, nil
}

// StartContainer starts a created or exited container, binds its ports and
// emits "start". Starting a running container does nothing. A host port
// another running container holds is an error, as in Docker.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	if err := r.enter(ctx, MethodStartContainer); err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.lookup(id)
	if !ok {
		return notFound("start", id)
	}
	if e.c.Running() {
		return nil
	}
	if e.c.State == runtime.StateRemoving || e.c.State == runtime.StateDead {
		return fmt.Errorf("start container %s: container is %s", id, e.c.State)
	}
	if err := r.bindPorts(e); err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	e.c.State = runtime.StateRunning
	e.c.StartedAt = r.now()
	e.c.FinishedAt = time.Time{}
	e.c.ExitCode = 0
	e.c.OOMKilled = false
	e.c.Error = ""
	e.c.Pid = 1000 + int(e.seq)
	e.c.IP = r.ip
	r.emit(e, runtime.EventStart)
	return nil
}

// StopContainer stops a running container at once, as if it honoured
// SIGTERM (exit code 0), emitting "kill", "die" and "stop" as Docker does.
// Stopping a stopped container does nothing.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	if err := r.enter(ctx, MethodStopContainer); err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.lookup(id)
	if !ok {
		return notFound("stop", id)
	}
	if !e.c.Running() {
		return nil
	}
	r.emit(e, runtime.EventKill)
	r.exit(e, 0, false)
	r.emit(e, runtime.EventStop)
	return nil
}

// RemoveContainer removes a container, killing it first if it runs, and
// emits "destroy". A missing container is not an error.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	if err := r.enter(ctx, MethodRemoveContainer); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.lookup(id)
	if !ok {
		return nil
	}
	if e.c.Running() {
		r.emit(e, runtime.EventKill)
		r.exit(e, 137, false)
	}
	delete(r.byID, e.c.ID)
	delete(r.byName, e.c.Name)
	r.emit(e, runtime.EventDestroy)
	return nil
}

// PullImage stores ref, or fails with the error set by FailPull.
func (r *Runtime) PullImage(ctx context.Context, ref string) error {
	if err := r.enter(ctx, MethodPullImage); err != nil {
		return fmt.Errorf("pull image %s: %w", ref, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pulls[ref]++
	if err := r.pullErrs[ref]; err != nil {
		return fmt.Errorf("pull image %s: %w", ref, err)
	}
	r.images[ref] = true
	return nil
}

// ContainerLogs returns the output set with SetLogs, the last opts.Tail
// lines of it when opts.Tail is not negative. Follow is ignored: the
// reader ends after the canned output.
func (r *Runtime) ContainerLogs(ctx context.Context, id string, opts runtime.LogOptions) (io.ReadCloser, error) {
	if err := r.enter(ctx, MethodContainerLogs); err != nil {
		return nil, fmt.Errorf("logs of container %s: %w", id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.lookup(id)
	if !ok {
		return nil, notFound("logs of", id)
	}
	return io.NopCloser(strings.NewReader(tailLines(e.logs, opts.Tail))), nil
}

// Exec runs cmd in a running container through the function set with
// SetExec, as Docker's exec would; a stopped container is an error, as in
// Docker.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string) (runtime.ExecResult, error) {
	if err := r.enter(ctx, MethodExec); err != nil {
		return runtime.ExecResult{}, fmt.Errorf("exec in container %s: %w", id, err)
	}
	r.mu.Lock()
	e, ok := r.lookup(id)
	if !ok {
		r.mu.Unlock()
		return runtime.ExecResult{}, notFound("exec in", id)
	}
	if !e.c.Running() {
		r.mu.Unlock()
		return runtime.ExecResult{}, fmt.Errorf("exec in container %s: container is not running", id)
	}
	c, f := snapshot(e), r.exec
	r.mu.Unlock()
	if f == nil {
		return runtime.ExecResult{}, nil
	}
	code, out := f(c, cmd)
	if len(out) > runtime.MaxExecOutput {
		out = out[:runtime.MaxExecOutput]
	}
	return runtime.ExecResult{ExitCode: code, Output: []byte(out)}, nil
}

// ---- internals; callers hold r.mu unless said otherwise ----

// enter counts a call and waits out its injected latency. It takes r.mu
// itself and must be called without it.
func (r *Runtime) enter(ctx context.Context, method string) error {
	r.mu.Lock()
	r.calls[method]++
	d := r.latency[""] + r.latency[method]
	r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Runtime) lookup(idOrName string) (*entry, bool) {
	if e, ok := r.byID[idOrName]; ok {
		return e, true
	}
	e, ok := r.byName[strings.TrimPrefix(idOrName, "/")]
	return e, ok
}

func (r *Runtime) exit(e *entry, code int, oom bool) {
	r.releasePorts(e)
	e.c.State = runtime.StateExited
	e.c.ExitCode = code
	e.c.OOMKilled = oom
	e.c.Pid = 0
	e.c.IP = ""
	e.c.FinishedAt = r.now()
	r.emit(e, runtime.EventDie)
}

// bindPorts publishes e's ports, choosing free host ports for HostPort 0.
func (r *Runtime) bindPorts(e *entry) error {
	var bound []runtime.PortBinding
	for _, p := range e.spec.Ports {
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		hostPort := p.HostPort
		if hostPort == 0 {
			for {
				hostPort = r.nextPort
				r.nextPort++
				if r.nextPort > 60999 {
					r.nextPort = firstHostPort
				}
				if _, used := r.hostPorts[portKey(proto, hostPort)]; !used {
					break
				}
			}
		} else if owner, used := r.hostPorts[portKey(proto, hostPort)]; used && owner != e.c.ID {
			for _, b := range bound {
				delete(r.hostPorts, portKey(b.Protocol, b.HostPort))
			}
			return fmt.Errorf("bind for %s:%d failed: %w", p.HostIP, hostPort, runtime.ErrPortAllocated)
		}
		r.hostPorts[portKey(proto, hostPort)] = e.c.ID
		hostIP := p.HostIP
		if hostIP == "" {
			hostIP = "0.0.0.0"
		}
		bound = append(bound, runtime.PortBinding{ContainerPort: p.ContainerPort, Protocol: proto, HostIP: hostIP, HostPort: hostPort})
	}
	e.c.Ports = bound
	return nil
}

func (r *Runtime) releasePorts(e *entry) {
	for _, p := range e.c.Ports {
		if r.hostPorts[portKey(p.Protocol, p.HostPort)] == e.c.ID {
			delete(r.hostPorts, portKey(p.Protocol, p.HostPort))
		}
	}
	e.c.Ports = nil
}

func portKey(proto string, port int) string { return fmt.Sprintf("%s/%d", proto, port) }

// emit hands an event to every matching subscriber without waiting; a
// subscriber whose buffer is full is ended with ErrEventsOverflow.
func (r *Runtime) emit(e *entry, action runtime.EventAction) {
	if len(r.subs) == 0 {
		return
	}
	attrs := maps.Clone(e.c.Labels)
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs["name"] = e.c.Name
	attrs["image"] = e.c.Image
	ev := runtime.Event{ContainerID: e.c.ID, Action: action, Labels: attrs, Time: r.now()}
	for s := range r.subs {
		if !matches(e.c.Labels, s.key, s.value) {
			continue
		}
		select {
		case s.events <- ev:
		default:
			r.endSubscriber(s, runtime.ErrEventsOverflow)
		}
	}
}

// endSubscriber sends s its one error and closes its channels.
func (r *Runtime) endSubscriber(s *subscriber, err error) {
	if s.done {
		return
	}
	s.done = true
	delete(r.subs, s)
	s.errs <- err
	close(s.events)
	close(s.errs)
}

func matches(labels map[string]string, key, value string) bool {
	if key == "" {
		return true
	}
	v, ok := labels[key]
	return ok && v == value
}

func notFound(op, idOrName string) error {
	return fmt.Errorf("%s container %s: no such container: %w", op, idOrName, runtime.ErrNotFound)
}

// snapshot copies a container so callers never share maps or slices with
// the engine.
func snapshot(e *entry) runtime.Container {
	c := e.c
	c.Labels = maps.Clone(c.Labels)
	c.Ports = slices.Clone(c.Ports)
	return c
}

func cloneSpec(s runtime.ContainerSpec) runtime.ContainerSpec {
	s.Entrypoint = slices.Clone(s.Entrypoint)
	s.Cmd = slices.Clone(s.Cmd)
	s.Env = slices.Clone(s.Env)
	s.Labels = maps.Clone(s.Labels)
	s.Ports = slices.Clone(s.Ports)
	return s
}

func tailLines(s string, n int) string {
	if n < 0 || s == "" {
		return s
	}
	if n == 0 {
		return ""
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

// SetStats sets what ContainerStats reads for a running container; a zero
// Time reads as the clock's now.
func (r *Runtime) SetStats(idOrName string, s runtime.Stats) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.lookup(idOrName)
	if !ok {
		return notFound("set stats", idOrName)
	}
	e.stats = s
	return nil
}

// ContainerStats returns the figures set with SetStats while the
// container runs, and zeros once it stopped, as Docker reports a stopped
// container.
func (r *Runtime) ContainerStats(ctx context.Context, id string) (runtime.Stats, error) {
	if err := r.enter(ctx, MethodContainerStats); err != nil {
		return runtime.Stats{}, fmt.Errorf("stats of container %s: %w", id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.lookup(id)
	if !ok {
		return runtime.Stats{}, notFound("stats of", id)
	}
	s := runtime.Stats{}
	if e.c.Running() {
		s = e.stats
	}
	if s.Time.IsZero() {
		s.Time = r.now()
	}
	return s, nil
}
