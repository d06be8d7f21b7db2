package v1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// AnnotationRestartAuthority names who restarts a task whose container
// exits or fails to start. Absent (or any other value), cubelet does, under
// spec.restartPolicy. RestartAuthorityCubeManager hands restarts to the
// Cube manager that posted the task (docs/cube-compat.md): cubelet then
// never restarts it, and reports every exit and every failure to start as
// Failed, as the book's worker does, so that the manager restarts it.
const AnnotationRestartAuthority = "cubelet.io/restart-authority"

// RestartAuthorityCubeManager is the AnnotationRestartAuthority value of
// tasks posted through the Cube API.
const RestartAuthorityCubeManager = "cube-manager"

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Task is one container the user wants cubelet to keep in a given state.
type Task struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TaskSpec   `json:"spec"`
	Status TaskStatus `json:"status,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// TaskList is a list of Tasks with the store revision it was read at.
type TaskList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []Task `json:"items"`
}

// TaskSpec is the desired state of a Task. Every field except DesiredState
// describes the container; DesiredState says whether it should run.
type TaskSpec struct {
	// Image is the container image reference. Required.
	Image string `json:"image"`
	// Command replaces the image's ENTRYPOINT, as in Kubernetes.
	Command []string `json:"command,omitempty"`
	// Args replaces the image's CMD, as in Kubernetes.
	Args []string `json:"args,omitempty"`
	// Env is the container's environment, in order.
	Env []EnvVar `json:"env,omitempty"`
	// WorkingDir overrides the image's working directory.
	WorkingDir string `json:"workingDir,omitempty"`
	// Ports are published on the host.
	Ports []PortMapping `json:"ports,omitempty"`
	// Resources limits the container.
	Resources Resources `json:"resources,omitempty"`
	// RestartPolicy says what happens when the container exits.
	RestartPolicy RestartPolicy `json:"restartPolicy,omitempty"`
	// ImagePullPolicy says when the image is pulled.
	ImagePullPolicy PullPolicy `json:"imagePullPolicy,omitempty"`
	// StopGracePeriodSeconds is the time between SIGTERM and SIGKILL.
	StopGracePeriodSeconds *int64 `json:"stopGracePeriodSeconds,omitempty"`
	// DesiredState is Running (the default) or Completed, which means "stop
	// it and keep it stopped". It is the declarative form of Cube's DELETE.
	DesiredState State `json:"desiredState,omitempty"`
	// RestartGeneration forces a new run of an unchanged container when it
	// changes, the way kubectl's restartedAt annotation does. Cube's
	// manager restarts a task by posting it as Scheduled again.
	RestartGeneration int64 `json:"restartGeneration,omitempty"`
	// LivenessProbe restarts the container (under restartPolicy) when it
	// fails failureThreshold times in a row.
	LivenessProbe *Probe `json:"livenessProbe,omitempty"`
	// ReadinessProbe sets the Ready condition; it never restarts anything.
	ReadinessProbe *Probe `json:"readinessProbe,omitempty"`
	// StartupProbe holds the other two back until it succeeds once; when
	// it fails failureThreshold times the container is restarted, as by
	// the liveness probe.
	StartupProbe *Probe `json:"startupProbe,omitempty"`
	// NodeName binds the task to one node of a cluster (docs/cluster.md):
	// only that node's cubelet runs it. Empty in a cluster means "not
	// bound yet": the scheduler binds it. A single host ignores it. It
	// places the container but does not shape it, so it is not part of
	// the spec hash.
	NodeName string `json:"nodeName,omitempty"`
	// NodeSelector restricts the scheduler to nodes carrying all these
	// labels, as in Kubernetes.
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
}

// Probe is a health check cubelet runs against the container, with
// Kubernetes' fields and defaults.
type Probe struct {
	ProbeHandler `json:",inline"`
	// InitialDelaySeconds is the wait after the container started before
	// the first probe. Default 0.
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`
	// TimeoutSeconds bounds one probe. Default 1.
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
	// PeriodSeconds is the time between probes. Default 10.
	PeriodSeconds int32 `json:"periodSeconds,omitempty"`
	// SuccessThreshold is how many successes in a row turn a failed probe
	// successful. Default 1; must be 1 for liveness and startup probes.
	SuccessThreshold int32 `json:"successThreshold,omitempty"`
	// FailureThreshold is how many failures in a row turn a probe failed.
	// Default 3.
	FailureThreshold int32 `json:"failureThreshold,omitempty"`
}

// ProbeHandler is the check a probe runs: exactly one of its fields.
type ProbeHandler struct {
	// Exec runs a command in the container; exit code 0 is healthy.
	Exec *ExecAction `json:"exec,omitempty"`
	// HTTPGet asks the container for a page; a status in 200..399 is
	// healthy.
	HTTPGet *HTTPGetAction `json:"httpGet,omitempty"`
	// TCPSocket opens a connection; an accepted one is healthy.
	TCPSocket *TCPSocketAction `json:"tcpSocket,omitempty"`
}

// ExecAction runs Command in the container, through the engine, with no
// shell: the image's own binaries only.
type ExecAction struct {
	Command []string `json:"command"`
}

// URIScheme is HTTP or HTTPS.
type URIScheme string

const (
	URISchemeHTTP  URIScheme = "HTTP"
	URISchemeHTTPS URIScheme = "HTTPS"
)

// HTTPGetAction is a GET of Path on the container's Port.
type HTTPGetAction struct {
	// Path of the request; default "/".
	Path string `json:"path,omitempty"`
	// Port is a container port, by number or by the name of one of
	// spec.ports.
	Port intstr.IntOrString `json:"port"`
	// Scheme is HTTP (default) or HTTPS; HTTPS does not verify the
	// certificate, as kubelet does not.
	Scheme URIScheme `json:"scheme,omitempty"`
	// HTTPHeaders are sent with the request.
	HTTPHeaders []HTTPHeader `json:"httpHeaders,omitempty"`
}

// HTTPHeader is one request header of an HTTP probe.
type HTTPHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TCPSocketAction connects to the container's Port.
type TCPSocketAction struct {
	// Port is a container port, by number or by the name of one of
	// spec.ports.
	Port intstr.IntOrString `json:"port"`
}

// EnvVar is one environment variable.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

// Protocol is a port's transport protocol.
type Protocol string

const (
	ProtocolTCP Protocol = "TCP"
	ProtocolUDP Protocol = "UDP"
)

// PortMapping publishes a container port on the host.
type PortMapping struct {
	// Name lets probes refer to the port; an IANA service name, unique
	// within the task.
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	// HostPort 0 publishes on a free port chosen by Docker; the port
	// actually used is reported in status.hostPorts.
	HostPort int32 `json:"hostPort,omitempty"`
	// HostIP is the host address to bind; empty binds all addresses.
	HostIP   string   `json:"hostIP,omitempty"`
	Protocol Protocol `json:"protocol,omitempty"`
}

// Resources are the container's limits.
type Resources struct {
	// CPU in cores ("500m", "2"), mapped to Docker's NanoCPUs.
	CPU *resource.Quantity `json:"cpu,omitempty"`
	// Memory in bytes ("64Mi"), mapped to Docker's memory limit.
	Memory *resource.Quantity `json:"memory,omitempty"`
}

// RestartPolicy is what happens when the container exits while it should run.
type RestartPolicy string

const (
	RestartAlways    RestartPolicy = "Always"
	RestartOnFailure RestartPolicy = "OnFailure"
	RestartNever     RestartPolicy = "Never"
)

// PullPolicy is when the image is pulled.
type PullPolicy string

const (
	PullIfNotPresent PullPolicy = "IfNotPresent"
	PullAlways       PullPolicy = "Always"
	PullNever        PullPolicy = "Never"
)

// TaskStatus is what cubelet last observed of the Task. Only the controller
// writes it, through the store's UpdateStatus.
type TaskStatus struct {
	// State is the seed's state of the current run.
	State State `json:"state,omitempty"`
	// Reason is a CamelCase word for why the task is in this state
	// (CrashLoopBackOff, ErrImagePull, ImagePullBackOff, OOMKilled, ...).
	Reason string `json:"reason,omitempty"`
	// Message is a human-readable detail, such as the daemon's error.
	Message string `json:"message,omitempty"`
	// ContainerID is the Docker ID of the task's current container.
	ContainerID string `json:"containerID,omitempty"`
	// ContainerName is the Docker name of that container.
	ContainerName string `json:"containerName,omitempty"`
	// PreviousContainerID is the container of the attempt before the
	// current one, kept stopped for `cubelet logs --previous` until the
	// attempt after it starts.
	PreviousContainerID string `json:"previousContainerID,omitempty"`
	// ExitCode is the last exit code of the container, once it exited.
	ExitCode *int32 `json:"exitCode,omitempty"`
	// RestartCount counts the restarts made by cubelet under the restart
	// policy (and Cube's restarts), across runs.
	RestartCount int32 `json:"restartCount,omitempty"`
	// StartTime is when the current container last started.
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// FinishTime is when it last exited.
	FinishTime *metav1.Time `json:"finishTime,omitempty"`
	// NextRetryTime is when cubelet will try again, during a back-off.
	NextRetryTime *metav1.Time `json:"nextRetryTime,omitempty"`
	// HostPorts are the ports actually published.
	HostPorts []HostPort `json:"hostPorts,omitempty"`
	// ObservedGeneration is the generation this status describes.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions are Ready, Progressing and Degraded (see docs/api.md).
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Transitions are the last state changes, newest last.
	Transitions []Transition `json:"transitions,omitempty"`
}

// HostPort is a port published on the host.
type HostPort struct {
	ContainerPort int32    `json:"containerPort"`
	Protocol      Protocol `json:"protocol"`
	HostIP        string   `json:"hostIP,omitempty"`
	HostPort      int32    `json:"hostPort"`
}

// Transition records one change of state.
type Transition struct {
	From   State       `json:"from,omitempty"`
	To     State       `json:"to"`
	Reason string      `json:"reason,omitempty"`
	Time   metav1.Time `json:"time"`
}
