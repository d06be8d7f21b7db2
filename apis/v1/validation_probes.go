package v1

import (
	"fmt"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Bounds of a probe: a period or timeout past an hour, or a threshold past
// a thousand, is a typo rather than a wish, and would hold a timer or a
// counter for nothing.
const (
	MaxProbeSeconds    = 3600
	MaxProbeThreshold  = 1000
	MaxProbeHeaders    = 16
	MaxProbePathLength = 2048
	// MaxProbeArgs and MaxProbeArgLength bound an exec probe's command
	// and an HTTP probe's header values: a health check is one short
	// command, run every period.
	MaxProbeArgs      = 64
	MaxProbeArgLength = 4096
)

// validateProbesAndPortNames checks the three probes of a defaulted spec
// and the port names they may refer to. It is ValidateTaskSpec's, in a file
// of its own so probes can grow without touching the rest.
func validateProbesAndPortNames(s *TaskSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, p := range s.Ports {
		if p.Name == "" {
			continue
		}
		np := path.Child("ports").Index(i).Child("name")
		for _, msg := range validation.IsValidPortName(p.Name) {
			errs = append(errs, field.Invalid(np, p.Name, msg))
		}
		if names.Has(p.Name) {
			errs = append(errs, field.Duplicate(np, p.Name))
		}
		names.Insert(p.Name)
	}
	errs = append(errs, validateProbe(s.LivenessProbe, names, true, path.Child("livenessProbe"))...)
	errs = append(errs, validateProbe(s.ReadinessProbe, names, false, path.Child("readinessProbe"))...)
	errs = append(errs, validateProbe(s.StartupProbe, names, true, path.Child("startupProbe"))...)
	return errs
}

// validateProbe checks one defaulted probe. Liveness and startup probes
// must have successThreshold 1, as in Kubernetes: one success is what
// "alive" and "started" mean.
func validateProbe(p *Probe, portNames sets.Set[string], oneSuccess bool, path *field.Path) field.ErrorList {
	if p == nil {
		return nil
	}
	var errs field.ErrorList
	bounded := func(name string, v, lo, hi int32) {
		if v < lo || v > hi {
			errs = append(errs, field.Invalid(path.Child(name), v, fmt.Sprintf("must be between %d and %d", lo, hi)))
		}
	}
	bounded("initialDelaySeconds", p.InitialDelaySeconds, 0, MaxProbeSeconds)
	bounded("timeoutSeconds", p.TimeoutSeconds, 1, MaxProbeSeconds)
	bounded("periodSeconds", p.PeriodSeconds, 1, MaxProbeSeconds)
	bounded("successThreshold", p.SuccessThreshold, 1, MaxProbeThreshold)
	bounded("failureThreshold", p.FailureThreshold, 1, MaxProbeThreshold)
	if oneSuccess && p.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(path.Child("successThreshold"), p.SuccessThreshold, "must be 1"))
	}

	handlers := 0
	if a := p.Exec; a != nil {
		handlers++
		errs = append(errs, validateExecCommand(a.Command, path.Child("exec", "command"))...)
	}
	if a := p.HTTPGet; a != nil {
		handlers++
		hp := path.Child("httpGet")
		switch {
		case len(a.Path) > MaxProbePathLength:
			errs = append(errs, field.TooLong(hp.Child("path"), "", MaxProbePathLength))
		case !strings.HasPrefix(a.Path, "/") || strings.ContainsAny(a.Path, " \t\r\n\x00"):
			errs = append(errs, field.Invalid(hp.Child("path"), a.Path, "must be an absolute URL path without spaces or control characters"))
		}
		errs = append(errs, validateProbePort(a.Port, portNames, hp.Child("port"))...)
		if a.Scheme != URISchemeHTTP && a.Scheme != URISchemeHTTPS {
			errs = append(errs, field.NotSupported(hp.Child("scheme"), a.Scheme, []URIScheme{URISchemeHTTP, URISchemeHTTPS}))
		}
		if len(a.HTTPHeaders) > MaxProbeHeaders {
			errs = append(errs, field.TooMany(hp.Child("httpHeaders"), len(a.HTTPHeaders), MaxProbeHeaders))
		}
		for i, h := range a.HTTPHeaders {
			if len(validation.IsHTTPHeaderName(h.Name)) > 0 || len(h.Value) > MaxProbeArgLength ||
				strings.ContainsAny(h.Value, "\r\n\x00") || http.CanonicalHeaderKey(h.Name) == "Host" {
				errs = append(errs, field.Invalid(hp.Child("httpHeaders").Index(i), h.Name,
					"must be an HTTP header name other than Host, with a value of one line"))
			}
		}
	}
	if a := p.TCPSocket; a != nil {
		handlers++
		errs = append(errs, validateProbePort(a.Port, portNames, path.Child("tcpSocket", "port"))...)
	}
	if handlers != 1 {
		errs = append(errs, field.Invalid(path, handlers, "must have exactly one of exec, httpGet or tcpSocket"))
	}
	return errs
}

// validateExecCommand bounds an exec probe's command as command and args
// are bounded, and requires one.
func validateExecCommand(cmd []string, path *field.Path) field.ErrorList {
	if len(cmd) == 0 || cmd[0] == "" {
		return field.ErrorList{field.Required(path, "the program to run and its arguments")}
	}
	if len(cmd) > MaxProbeArgs {
		return field.ErrorList{field.TooMany(path, len(cmd), MaxProbeArgs)}
	}
	var errs field.ErrorList
	for i, a := range cmd {
		if len(a) > MaxProbeArgLength || strings.IndexByte(a, 0) >= 0 {
			errs = append(errs, field.Invalid(path.Index(i), "", fmt.Sprintf("must be at most %d bytes, without NUL", MaxProbeArgLength)))
		}
	}
	return errs
}

// validateProbePort accepts a port number, or the name of one of the
// spec's ports.
func validateProbePort(port intstr.IntOrString, names sets.Set[string], path *field.Path) field.ErrorList {
	if port.Type == intstr.String {
		if !names.Has(port.StrVal) {
			return field.ErrorList{field.Invalid(path, port.StrVal, "must be a port number or the name of one of spec.ports")}
		}
		return nil
	}
	var errs field.ErrorList
	for _, msg := range validation.IsValidPortNum(int(port.IntVal)) {
		errs = append(errs, field.Invalid(path, port.IntVal, msg))
	}
	return errs
}
