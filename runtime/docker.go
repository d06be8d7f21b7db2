package runtime

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"golang.org/x/sync/errgroup"
)

// inspectConcurrency bounds the ContainerInspect calls ListContainers runs at
// once: enough to hide the per-call latency, few enough not to queue up
// behind a busy daemon.
const inspectConcurrency = 8

// negotiateTimeout bounds the API version negotiation at construction.
const negotiateTimeout = 5 * time.Second

// Docker is the Runtime on the Docker Engine API. It is safe for concurrent
// use; its state is the API client and the OOM kills its event streams saw.
//
// +k8s:deepcopy-gen=false
type Docker struct {
	cli *client.Client
	oom *oomBook
}

// NewDocker connects to the Docker daemon at host ("unix:///var/run/docker.sock",
// "tcp://127.0.0.1:2375", ...). An empty host means the environment
// (DOCKER_HOST, DOCKER_API_VERSION, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY) or
// the default socket. The API version is negotiated with the daemon on the
// first call, so an older daemon (API 1.41) works with this client.
func NewDocker(host string) (*Docker, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	// Negotiate now, once: left to the first calls, concurrent ones (the
	// event stream, the usage sampler, the informer's list) race on the
	// client's negotiated version. A daemon that is down now is negotiated
	// with on first use instead.
	ctx, cancel := context.WithTimeout(context.Background(), negotiateTimeout)
	defer cancel()
	cli.NegotiateAPIVersion(ctx)
	return &Docker{cli: cli, oom: newOOMBook()}, nil
}

// Close releases the client's idle connections.
func (d *Docker) Close() error {
	return d.cli.Close()
}

// Ping reports whether the daemon answers.
func (d *Docker) Ping(ctx context.Context) error {
	if _, err := d.cli.Ping(ctx); err != nil {
		return fmt.Errorf("ping docker: %w", err)
	}
	return nil
}

// ListContainers returns every container, running or not, that carries the
// label labelKey=labelValue (every container when labelKey is empty), fully
// inspected, newest first as Docker lists them. A container removed between
// the list and its inspect is left out: it is gone, which is what a caller
// would learn from the next list anyway.
func (d *Docker) ListContainers(ctx context.Context, labelKey, labelValue string) ([]Container, error) {
	args := filters.NewArgs()
	if labelKey != "" {
		args.Add("label", labelKey+"="+labelValue)
	}
	summaries, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil, fmt.Errorf("list containers %s=%s: %w", labelKey, labelValue, err)
	}

	inspected := make([]*Container, len(summaries))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(inspectConcurrency)
	for i, s := range summaries {
		g.Go(func() error {
			r, err := d.cli.ContainerInspect(gctx, s.ID)
			if err != nil {
				if isNotFound(err) {
					return nil
				}
				return fmt.Errorf("list containers: inspect %s: %w", s.ID, err)
			}
			c := d.oom.apply(containerFromInspect(r))
			inspected[i] = &c
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]Container, 0, len(inspected))
	for _, c := range inspected {
		if c != nil {
			out = append(out, *c)
		}
	}
	return out, nil
}

// InspectContainer returns one container by ID, ID prefix or name. A missing
// container is an error wrapping ErrNotFound.
func (d *Docker) InspectContainer(ctx context.Context, idOrName string) (Container, error) {
	r, err := d.cli.ContainerInspect(ctx, idOrName)
	if err != nil {
		return Container{}, fmt.Errorf("inspect container %s: %w", idOrName, classify(err))
	}
	return d.oom.apply(containerFromInspect(r)), nil
}

// CreateContainer creates, and does not start, the container spec describes,
// and returns its ID. An existing container of that name is an error wrapping
// ErrNameConflict (the controller adopts or replaces it); a missing image is
// an error wrapping ErrNotFound (this method never pulls).
//
// The container gets no privileges beyond Docker's defaults: no privileged
// mode, the default bridge network, its own PID namespace, no bind mounts, and
// restart policy "no", because restarting is the controller's decision.
func (d *Docker) CreateContainer(ctx context.Context, spec ContainerSpec) (string, error) {
	cfg, hostCfg, err := dockerConfig(spec)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	resp, err := d.cli.ContainerCreate(ctx, cfg, hostCfg, nil, nil, spec.Name)
	if err != nil {
		if isConflict(err) {
			return "", fmt.Errorf("create container %s: %w", spec.Name, &engineError{kind: ErrNameConflict, err: err})
		}
		return "", fmt.Errorf("create container %s: %w", spec.Name, classify(err))
	}
	return resp.ID, nil
}

// StartContainer starts a created or exited container. Starting a running one
// is not an error (the daemon answers 304).
func (d *Docker) StartContainer(ctx context.Context, id string) error {
	if err := d.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		if isPortTaken(err) {
			return fmt.Errorf("start container %s: %w", id, &engineError{kind: ErrPortAllocated, err: err})
		}
		return fmt.Errorf("start container %s: %w", id, classify(err))
	}
	return nil
}

// StopContainer has the daemon send the container's stop signal (SIGTERM
// unless the image says otherwise) and SIGKILL after grace, rounded up to
// whole seconds; a zero grace kills at once. It returns when the container
// has stopped. A stopped container is not an error; a missing one is an
// error wrapping ErrNotFound, and the caller decides what that means.
func (d *Docker) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	timeout := graceSeconds(grace)
	if err := d.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &timeout}); err != nil {
		return fmt.Errorf("stop container %s: %w", id, classify(err))
	}
	return nil
}

// RemoveContainer force-removes a container (killing it if it runs) with its
// anonymous volumes. A missing container, or one whose removal is already in
// progress, is not an error: either way it is going.
func (d *Docker) RemoveContainer(ctx context.Context, id string) error {
	err := d.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	switch {
	case err == nil, isNotFound(err):
		return nil
	case isConflict(err) && strings.Contains(err.Error(), "already in progress"):
		return nil
	}
	return fmt.Errorf("remove container %s: %w", id, err)
}

// graceSeconds rounds a grace period up to the whole seconds the API takes.
func graceSeconds(grace time.Duration) int {
	if grace <= 0 {
		return 0
	}
	s := math.Ceil(grace.Seconds())
	if s > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(s)
}

// engineError is a daemon error that also matches one of this package's
// sentinels with errors.Is, while its text stays the daemon's message,
// verbatim.
//
// +k8s:deepcopy-gen=false
type engineError struct {
	kind error // ErrNotFound or ErrNameConflict
	err  error // what the client returned
}

func (e *engineError) Error() string   { return e.err.Error() }
func (e *engineError) Unwrap() []error { return []error{e.kind, e.err} }

// classify makes a daemon's "not found" match ErrNotFound. Conflicts are not
// mapped here: Docker answers 409 for several things (a name in use, removing
// a running container, ...) and only CreateContainer knows it meant the name.
func classify(err error) error {
	if isNotFound(err) {
		return &engineError{kind: ErrNotFound, err: err}
	}
	return err
}

func isNotFound(err error) bool { return err != nil && cerrdefs.IsNotFound(err) }

// isPortTaken recognises the daemon's refusal to publish a host port that
// is in use; Docker reports it only as text ("Bind for 0.0.0.0:8080
// failed: port is already allocated", or the kernel's EADDRINUSE).
func isPortTaken(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "port is already allocated") || strings.Contains(msg, "address already in use")
}

func isConflict(err error) bool { return err != nil && cerrdefs.IsConflict(err) }
