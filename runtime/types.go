package runtime

import (
	"errors"
	"time"
)

// Sentinel errors callers test with errors.Is; implementations wrap them.
var (
	// ErrNotFound: no such container or image.
	ErrNotFound = errors.New("not found")
	// ErrNameConflict: a container with that name exists already.
	ErrNameConflict = errors.New("container name already in use")
	// ErrPortAllocated: a host port the container asked for is taken.
	ErrPortAllocated = errors.New("host port is already allocated")
	// ErrEventsOverflow: an event consumer fell so far behind that events
	// were dropped; resubscribe and relist.
	ErrEventsOverflow = errors.New("event consumer fell behind: events dropped")
)

// ContainerState is Docker's state word for a container.
type ContainerState string

const (
	StateCreated    ContainerState = "created"
	StateRunning    ContainerState = "running"
	StatePaused     ContainerState = "paused"
	StateRestarting ContainerState = "restarting"
	StateRemoving   ContainerState = "removing"
	StateExited     ContainerState = "exited"
	StateDead       ContainerState = "dead"
)

// Container is what the engine reports about one container.
type Container struct {
	ID     string            `json:"id"`
	Name   string            `json:"name"` // without Docker's leading "/"
	Image  string            `json:"image"`
	Labels map[string]string `json:"labels,omitempty"`
	State  ContainerState    `json:"state"`
	// ExitCode, OOMKilled and Error describe the last exit.
	ExitCode  int    `json:"exitCode"`
	OOMKilled bool   `json:"oomKilled,omitempty"`
	Error     string `json:"error,omitempty"`
	Pid       int    `json:"pid,omitempty"`
	// CreatedAt, StartedAt and FinishedAt are zero when they did not happen.
	CreatedAt  time.Time `json:"createdAt"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	// Ports are the published ports, as the engine bound them.
	Ports []PortBinding `json:"ports,omitempty"`
	// IP is the container's address on its network (Docker's bridge),
	// while it runs; probes reach the container there.
	IP string `json:"ip,omitempty"`
}

// Running reports whether the container's process is up.
func (c *Container) Running() bool {
	return c.State == StateRunning || c.State == StatePaused || c.State == StateRestarting
}

// PortBinding is one published port.
type PortBinding struct {
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"` // "tcp" or "udp"
	HostIP        string `json:"hostIP,omitempty"`
	HostPort      int    `json:"hostPort"`
}

// ContainerSpec is everything needed to create a container.
type ContainerSpec struct {
	Name       string
	Image      string
	Entrypoint []string // nil keeps the image's
	Cmd        []string // nil keeps the image's
	Env        []string // KEY=value
	WorkingDir string
	Labels     map[string]string
	Ports      []PortBinding // HostPort 0 lets the engine choose
	NanoCPUs   int64
	Memory     int64 // bytes; 0 is no limit
	// StopTimeout is the grace period the engine uses for stops it starts
	// itself; cubelet passes the grace explicitly to StopContainer too.
	StopTimeout time.Duration
}

// EventAction is what happened to a container.
type EventAction string

const (
	EventCreate  EventAction = "create"
	EventStart   EventAction = "start"
	EventDie     EventAction = "die"
	EventStop    EventAction = "stop"
	EventKill    EventAction = "kill"
	EventOOM     EventAction = "oom"
	EventDestroy EventAction = "destroy"
	EventRename  EventAction = "rename"
	EventPause   EventAction = "pause"
	EventUnpause EventAction = "unpause"
)

// Event is one container event from the engine.
type Event struct {
	ContainerID string
	Action      EventAction
	Labels      map[string]string
	Time        time.Time
}

// LogOptions selects a container's output.
type LogOptions struct {
	Follow     bool
	Tail       int // -1 for all
	Timestamps bool
}

// Stats is one reading of a container's resource use. CPU is cumulative,
// so a rate needs two readings; the engine's own "precpu" pair is empty in
// a one-shot read, and the caller keeps the previous reading anyway.
type Stats struct {
	// Time is when the engine took the reading.
	Time time.Time `json:"time"`
	// CPUNanos is the CPU time the container used since it started.
	CPUNanos uint64 `json:"cpuNanos"`
	// MemoryBytes is the working set: usage less the inactive page cache,
	// the figure `docker stats` and the OOM killer's view agree on.
	MemoryBytes uint64 `json:"memoryBytes"`
	// MemoryLimitBytes is the limit the engine enforces (the host's memory
	// when the container has none).
	MemoryLimitBytes uint64 `json:"memoryLimitBytes,omitempty"`
}

// ExecResult is how a command run in a container ended.
type ExecResult struct {
	ExitCode int
	// Output is the start of its stdout and stderr, interleaved, at most
	// MaxExecOutput bytes.
	Output []byte
}

// MaxExecOutput bounds the output an exec keeps: a probe's message needs
// a line, not a megabyte.
const MaxExecOutput = 4096
