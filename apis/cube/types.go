package cube

import (
	"time"

	"github.com/google/uuid"
)

// Task is Cube's task.Task, with the fields its later chapters add
// (HostPorts, HealthCheck, RestartCount). The field names are the JSON keys.
type Task struct {
	ID          uuid.UUID
	ContainerID string
	Name        string
	State       State
	Image       string
	// Cpu is in cores; 0 means no limit.
	Cpu float64
	// Memory is in bytes, handed to Docker as it is; 0 means no limit.
	Memory int64
	// Disk is carried for the manager's scheduler; cubelet does not
	// enforce it.
	Disk int64
	// ExposedPorts is Docker's port set: {"80/tcp": {}}.
	ExposedPorts PortSet
	// PortBindings maps a port of ExposedPorts ("80/tcp") to a host port
	// ("8080").
	PortBindings map[string]string
	// RestartPolicy is "", "always", "unless-stopped" or "on-failure".
	RestartPolicy string
	StartTime     time.Time
	FinishTime    time.Time
	// HostPorts is Docker's port map of the ports actually published.
	HostPorts   PortMap
	HealthCheck string
	// RestartCount counts the restarts of the task.
	RestartCount int
}

// TaskEvent is Cube's task.TaskEvent: the manager posts one to a worker to
// ask for Task.State.
type TaskEvent struct {
	ID        uuid.UUID
	State     State
	Timestamp time.Time
	Task      Task
}

// PortSet has the shape of Docker's nat.PortSet: keys are "port/proto".
type PortSet map[string]struct{}

// PortMap has the shape of Docker's nat.PortMap: "port/proto" to the host
// addresses it is published on.
type PortMap map[string][]PortBinding

// PortBinding has the shape of Docker's nat.PortBinding, whose JSON keys
// are "HostIp" and "HostPort".
type PortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string
}
