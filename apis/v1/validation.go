package v1

import (
	"fmt"
	"path"
	"strings"

	"github.com/distribution/reference"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

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
	errs = append(errs, apivalidation.ValidateAnnotations(t.Annotations, field.NewPath("metadata", "annotations"))...)
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
	errs = append(errs, validateImage(s.Image, path.Child("image"))...)
	errs = append(errs, validateArgs(s.Command, s.Args, path)...)
	errs = append(errs, validateEnv(s.Env, path.Child("env"))...)
	errs = append(errs, validateWorkingDir(s.WorkingDir, path.Child("workingDir"))...)
	errs = append(errs, validatePorts(s.Ports, path.Child("ports"))...)
	errs = append(errs, validateResources(&s.Resources, path.Child("resources"))...)
	errs = append(errs, validateProbesAndPortNames(s, path)...)
	errs = append(errs, validatePlacement(s, path)...)

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
	if g := s.StopGracePeriodSeconds; g != nil && (*g < 0 || *g > MaxStopGracePeriodSeconds) {
		errs = append(errs, field.Invalid(path.Child("stopGracePeriodSeconds"), *g,
			fmt.Sprintf("must be between 0 and %d", MaxStopGracePeriodSeconds)))
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

// validateImage parses image with the distribution reference grammar,
// as Docker does before it pulls: a repository name in lower case,
// optionally a registry host, a tag and a digest. A path ("/etc/passwd",
// "../../x"), a flag, a NUL, upper case or a bare image ID is refused
// here with a field error, rather than stored and retried forever as
// CreateContainerError. The stored string is not normalised: the user's
// spelling is the spec.
func validateImage(image string, path *field.Path) field.ErrorList {
	switch {
	case image == "":
		return field.ErrorList{field.Required(path, "the container image to run")}
	case len(image) > MaxImageLength:
		// Checked first so the parser never sees a megabyte.
		return field.ErrorList{field.TooLong(path, "", MaxImageLength)}
	}
	if _, err := reference.ParseNormalizedNamed(image); err != nil {
		return field.ErrorList{field.Invalid(path, image,
			fmt.Sprintf("must be an image reference such as nginx:1.27 or registry.example.com/team/app@sha256:<digest>: %v", err))}
	}
	return nil
}

// validateArgs bounds command and args: entries per list, bytes per entry
// (execve's limit) and bytes of both together. A NUL would cut the string
// short at exec, so it is refused too.
func validateArgs(command, args []string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	total := 0
	for _, list := range []struct {
		name    string
		entries []string
	}{{"command", command}, {"args", args}} {
		p := path.Child(list.name)
		if len(list.entries) > MaxArgs {
			errs = append(errs, field.TooMany(p, len(list.entries), MaxArgs))
			continue
		}
		over := false
		for i, a := range list.entries {
			switch {
			case len(a) > MaxArgLength:
				errs = append(errs, field.TooLong(p.Index(i), "", MaxArgLength))
			case strings.IndexByte(a, 0) >= 0:
				errs = append(errs, field.Invalid(p.Index(i), a, "must not contain a NUL byte"))
			}
			total += len(a)
			if total > MaxArgsBytes && !over {
				errs = append(errs, tooLong(p,
					fmt.Sprintf("command and args together may not be more than %d bytes", MaxArgsBytes)))
				over = true
			}
		}
		if over {
			break
		}
	}
	return errs
}

func validateEnv(env []EnvVar, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(env) > MaxEnv {
		return field.ErrorList{field.TooMany(path, len(env), MaxEnv)}
	}
	total := 0
	for i, e := range env {
		total += len(e.Name) + len(e.Value)
		if len(e.Name)+1+len(e.Value) > MaxArgLength {
			errs = append(errs, tooLong(path.Index(i),
				fmt.Sprintf("NAME=value may not be more than %d bytes", MaxArgLength)))
			continue
		}
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
	if total > MaxEnvBytes {
		errs = append(errs, tooLong(path,
			fmt.Sprintf("names and values together may not be more than %d bytes", MaxEnvBytes)))
	}
	return errs
}

// validateWorkingDir refuses what Docker would refuse at create time: a
// relative path ("needs to be an absolute path"), and what no kernel
// takes: a path over PATH_MAX or with a NUL.
func validateWorkingDir(dir string, p *field.Path) field.ErrorList {
	switch {
	case dir == "":
		return nil
	case len(dir) > MaxWorkingDirLength:
		return field.ErrorList{field.TooLong(p, "", MaxWorkingDirLength)}
	case strings.IndexByte(dir, 0) >= 0:
		return field.ErrorList{field.Invalid(p, dir, "must not contain a NUL byte")}
	case !path.IsAbs(dir):
		return field.ErrorList{field.Invalid(p, dir, "must be an absolute path")}
	}
	return nil
}

func validatePorts(ports []PortMapping, path *field.Path) field.ErrorList {
	if len(ports) > MaxPorts {
		return field.ErrorList{field.TooMany(path, len(ports), MaxPorts)}
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

// validateResources keeps cpu and memory inside the static bounds of
// limits.go, inside which the controller's conversions to Docker's
// NanoCPUs and Memory cannot overflow. It never reads MilliValue or
// Value, which saturate or read 0 for the very values being refused.
func validateResources(r *Resources, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if r.CPU != nil && !quantityWithin(r.CPU, minCPU, maxCPU) {
		errs = append(errs, field.Invalid(path.Child("cpu"), r.CPU.String(),
			fmt.Sprintf("must be between %s (Docker's minimum) and %s cores", minCPU.String(), maxCPU.String())))
	}
	if r.Memory != nil && !quantityWithin(r.Memory, minMemory, maxMemory) {
		errs = append(errs, field.Invalid(path.Child("memory"), r.Memory.String(),
			fmt.Sprintf("must be between %s (Docker's minimum) and %s bytes", minMemory.String(), maxMemory.String())))
	}
	return errs
}

// quantityWithin reports whether lo ≤ q ≤ hi, for bounds between 10^-9
// and 10^18. Quantity.Cmp aligns the two decimals' scales by building
// 10^scale, so on "1e674407370", which parses in a microsecond, it runs
// for minutes and takes gigabytes: q's order of magnitude is checked
// first, from its digits and scale, and Cmp only sees values of sane
// scale.
func quantityWithin(q *resource.Quantity, lo, hi resource.Quantity) bool {
	if q.Sign() <= 0 {
		return false // every bound here is positive
	}
	d := q.DeepCopy() // AsDec changes the receiver's representation
	dec := d.AsDec()
	digits := int64(len(dec.UnscaledBig().Text(10)))
	// 10^(exponent-1) <= q < 10^exponent.
	exponent := digits - int64(dec.Scale())
	if exponent > 19 || exponent < -9 || digits > 40 {
		return false
	}
	return q.Cmp(lo) >= 0 && q.Cmp(hi) <= 0
}

// ValidateResourcesFit refuses resources this host cannot give: more
// cores than hostCPUs (Docker refuses them at create time, and the task
// would retry forever) or more memory than hostMemory bytes. A zero
// figure is unknown and not checked. It is separate from ValidateTask,
// which depends on the task alone, because the host is the server's to
// know: the API server calls both on admission. r must have passed
// ValidateTask, so that its values fit an int64.
func ValidateResourcesFit(r *Resources, hostCPUs int, hostMemory int64, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if r.CPU != nil && hostCPUs > 0 && r.CPU.Cmp(*resource.NewQuantity(int64(hostCPUs), resource.DecimalSI)) > 0 {
		errs = append(errs, field.Invalid(path.Child("cpu"), r.CPU.String(),
			fmt.Sprintf("must not be more than the host's %d CPUs", hostCPUs)))
	}
	if r.Memory != nil && hostMemory > 0 && r.Memory.Cmp(*resource.NewQuantity(hostMemory, resource.BinarySI)) > 0 {
		errs = append(errs, field.Invalid(path.Child("memory"), r.Memory.String(),
			fmt.Sprintf("must not be more than the host's memory, %d bytes", hostMemory)))
	}
	return errs
}

// tooLong is field.TooLong with a detail that says what is counted, for
// limits on a sum rather than on one string.
func tooLong(path *field.Path, detail string) *field.Error {
	e := field.TooLong(path, "", -1)
	e.Detail = detail
	return e
}
