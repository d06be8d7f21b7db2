package v1

// DefaultStopGracePeriodSeconds is Docker's and Kubernetes' usual grace.
const DefaultStopGracePeriodSeconds int64 = 10

// FinalizerContainers holds a deleted Task in the store until the controller
// has removed its containers.
const FinalizerContainers = "cubelet.io/containers"

// SetDefaults fills what the user may omit. It is idempotent, so a task read
// back and applied again defaults to the same object.
func SetDefaults(t *Task) {
	if t.APIVersion == "" {
		t.APIVersion = APIVersion
	}
	if t.Kind == "" {
		t.Kind = KindTask
	}
	s := &t.Spec
	if s.RestartPolicy == "" {
		s.RestartPolicy = RestartAlways
	}
	if s.ImagePullPolicy == "" {
		s.ImagePullPolicy = PullIfNotPresent
	}
	if s.StopGracePeriodSeconds == nil {
		grace := DefaultStopGracePeriodSeconds
		s.StopGracePeriodSeconds = &grace
	}
	if s.DesiredState == "" {
		s.DesiredState = Running
	}
	for i := range s.Ports {
		if s.Ports[i].Protocol == "" {
			s.Ports[i].Protocol = ProtocolTCP
		}
	}
	for _, p := range []*Probe{s.LivenessProbe, s.ReadinessProbe, s.StartupProbe} {
		setProbeDefaults(p)
	}
}

// Kubernetes' probe defaults.
const (
	DefaultProbeTimeoutSeconds   int32 = 1
	DefaultProbePeriodSeconds    int32 = 10
	DefaultProbeSuccessThreshold int32 = 1
	DefaultProbeFailureThreshold int32 = 3
)

func setProbeDefaults(p *Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = DefaultProbeTimeoutSeconds
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = DefaultProbePeriodSeconds
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = DefaultProbeSuccessThreshold
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = DefaultProbeFailureThreshold
	}
	if g := p.HTTPGet; g != nil {
		if g.Path == "" {
			g.Path = "/"
		}
		if g.Scheme == "" {
			g.Scheme = URISchemeHTTP
		}
	}
}
