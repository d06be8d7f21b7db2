package v1

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits that keep one task from asking for absurd things of the host.
const (
	maxStopGracePeriodSeconds = 3600
	maxArgs                   = 1024
	maxEnv                    = 1024
	maxPorts                  = 128
	maxImageLength            = 1024
)

// minMemory is Docker's lower bound for a memory limit.
var minMemory = resource.MustParse("6Mi")

// ValidateTask checks a defaulted Task as the user sent it.
func ValidateTask(t *Task) field.ErrorList {
	var errs field.ErrorList
	if t.APIVersion != APIVersion {
		errs = append(errs, field.NotSupported(field.NewPath("apiVersion"), t.APIVersion, []string{APIVersion}))
	}
	if t.Kind != KindTask {
		errs = append(errs, field.NotSupported(field.NewPath("kind"), t.Kind, []string{KindTask}))
	}
	errs = append(errs, ValidateName(t.Name, field.NewPath("metadata", "name"))...)
	errs = append(errs, metav1validation.ValidateLabels(t.Labels, field.NewPath("metadata", "labels"))...)
	errs = append(errs, ValidateTaskSpec(&t.Spec, field.NewPath("spec"))...)
	return errs
}

// ValidateName checks that a task name is a DNS-1123 label: it becomes part
// of a Docker container name and a label value.
func ValidateName(name string, path *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(name) {
		errs = append(errs, field.Invalid(path, name, msg))
	}
	return errs
}

// ValidateTaskSpec checks a defaulted spec.
func ValidateTaskSpec(s *TaskSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	image := path.Child("image")
	switch {
	case s.Image == "":
		errs = append(errs, field.Required(image, "the container image to run"))
	case len(s.Image) > maxImageLength:
		errs = append(errs, field.TooLong(image, "", maxImageLength))
	case strings.ContainsAny(s.Image, " \t\r\n") || strings.HasPrefix(s.Image, "-"):
		errs = append(errs, field.Invalid(image, s.Image, "must be an image reference without whitespace"))
	}
	if len(s.Command) > maxArgs {
		errs = append(errs, field.TooMany(path.Child("command"), len(s.Command), maxArgs))
	}
	if len(s.Args) > maxArgs {
		errs = append(errs, field.TooMany(path.Child("args"), len(s.Args), maxArgs))
	}
	errs = append(errs, validateEnv(s.Env, path.Child("env"))...)
	errs = append(errs, validatePorts(s.Ports, path.Child("ports"))...)
	errs = append(errs, validateResources(&s.Resources, path.Child("resources"))...)
	errs = append(errs, validateProbesAndPortNames(s, path)...)

	switch s.RestartPolicy {
	case RestartAlways, RestartOnFailure, RestartNever:
	default:
		errs = append(errs, field.NotSupported(path.Child("restartPolicy"), s.RestartPolicy,
			[]RestartPolicy{RestartAlways, RestartOnFailure, RestartNever}))
	}
	switch s.ImagePullPolicy {
	case PullIfNotPresent, PullAlways, PullNever:
	default:
		errs = append(errs, field.NotSupported(path.Child("imagePullPolicy"), s.ImagePullPolicy,
			[]PullPolicy{PullIfNotPresent, PullAlways, PullNever}))
	}
	if g := s.StopGracePeriodSeconds; g != nil && (*g < 0 || *g > maxStopGracePeriodSeconds) {
		errs = append(errs, field.Invalid(path.Child("stopGracePeriodSeconds"), *g,
			fmt.Sprintf("must be between 0 and %d", maxStopGracePeriodSeconds)))
	}
	switch s.DesiredState {
	case Running, Completed:
	default:
		errs = append(errs, field.NotSupported(path.Child("desiredState"), s.DesiredState, []State{Running, Completed}))
	}
	if s.RestartGeneration < 0 {
		errs = append(errs, field.Invalid(path.Child("restartGeneration"), s.RestartGeneration, "must not be negative"))
	}
	return errs
}

func validateEnv(env []EnvVar, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(env) > maxEnv {
		return field.ErrorList{field.TooMany(path, len(env), maxEnv)}
	}
	for i, e := range env {
		p := path.Index(i).Child("name")
		if e.Name == "" {
			errs = append(errs, field.Required(p, ""))
			continue
		}
		for _, msg := range validation.IsEnvVarName(e.Name) {
			errs = append(errs, field.Invalid(p, e.Name, msg))
		}
		if strings.ContainsRune(e.Name, '=') || strings.ContainsRune(e.Value, 0) {
			errs = append(errs, field.Invalid(path.Index(i), e.Name, "must not contain '=' in the name or NUL in the value"))
		}
	}
	return errs
}

func validatePorts(ports []PortMapping, path *field.Path) field.ErrorList {
	if len(ports) > maxPorts {
		return field.ErrorList{field.TooMany(path, len(ports), maxPorts)}
	}
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, p := range ports {
		pp := path.Index(i)
		for _, msg := range validation.IsValidPortNum(int(p.ContainerPort)) {
			errs = append(errs, field.Invalid(pp.Child("containerPort"), p.ContainerPort, msg))
		}
		if p.HostPort != 0 {
			for _, msg := range validation.IsValidPortNum(int(p.HostPort)) {
				errs = append(errs, field.Invalid(pp.Child("hostPort"), p.HostPort, msg))
			}
		}
		if p.HostIP != "" {
			for _, msg := range validation.IsValidIP(pp.Child("hostIP"), p.HostIP) {
				errs = append(errs, msg)
			}
		}
		switch p.Protocol {
		case ProtocolTCP, ProtocolUDP:
		default:
			errs = append(errs, field.NotSupported(pp.Child("protocol"), p.Protocol, []Protocol{ProtocolTCP, ProtocolUDP}))
		}
		key := fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol)
		if seen.Has(key) {
			errs = append(errs, field.Duplicate(pp, key))
		}
		seen.Insert(key)
	}
	return errs
}

func validateResources(r *Resources, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if r.CPU != nil && r.CPU.Sign() <= 0 {
		errs = append(errs, field.Invalid(path.Child("cpu"), r.CPU.String(), "must be greater than zero"))
	}
	if r.Memory != nil && r.Memory.Cmp(minMemory) < 0 {
		errs = append(errs, field.Invalid(path.Child("memory"), r.Memory.String(), "must be at least 6Mi (Docker's minimum)"))
	}
	return errs
}
