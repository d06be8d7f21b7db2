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
}
