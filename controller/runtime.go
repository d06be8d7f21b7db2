package controller

import (
	"context"
	"time"

	"github.com/cubelet/cubelet/runtime"
)

// Runtime is what the controller needs of a container engine. runtime.Docker
// implements it on the Docker Engine API and runtime/fake in memory.
// Errors wrap runtime.ErrNotFound and runtime.ErrNameConflict where they apply.
type Runtime interface {
	// ListContainers returns every container carrying labelKey=labelValue,
	// running or not, fully inspected.
	ListContainers(ctx context.Context, labelKey, labelValue string) ([]runtime.Container, error)
	// InspectContainer returns one container by ID or name.
	InspectContainer(ctx context.Context, idOrName string) (runtime.Container, error)
	// Events streams container events for containers carrying
	// labelKey=labelValue, from the moment of the call, until ctx ends or
	// the stream breaks; the error channel then receives why (once).
	Events(ctx context.Context, labelKey, labelValue string) (<-chan runtime.Event, <-chan error)
	// CreateContainer creates (does not start) a container and returns its ID.
	CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error)
	// StartContainer starts a created or exited container.
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends SIGTERM, then SIGKILL after grace. Stopping a
	// stopped container is not an error.
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	// RemoveContainer force-removes a container. A missing one is not an
	// error.
	RemoveContainer(ctx context.Context, id string) error
	// PullImage pulls the image and returns once it is stored, or with the
	// daemon's error message.
	PullImage(ctx context.Context, ref string) error
	// Exec runs a command in a running container and returns how it
	// ended: exec probes.
	Exec(ctx context.Context, id string, cmd []string) (runtime.ExecResult, error)
}
