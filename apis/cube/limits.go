package cube

import (
	"fmt"
	"iter"
	"maps"

	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// Bounds on the strings of a Cube task, checked before conversion: Cube
// itself checks none, and what cubelet stores must be bounded (issue 11:
// a Name of 1,000,036 bytes was stored as an annotation). Those that
// become v1 fields share v1's limits; docs/api.md ("Limits") lists them.
const (
	// MaxNameLength bounds Task.Name, kept in an annotation. It is the
	// length of a Kubernetes object name; Cube's names are free text, so
	// only the length is checked.
	MaxNameLength = 253
	// MaxHealthCheckLength bounds Task.HealthCheck, a URL path.
	MaxHealthCheckLength = 2048
	// maxRestartPolicyLength keeps an unknown policy short enough to be
	// quoted back in the error; every known one is shorter.
	maxRestartPolicyLength = 32
	// maxPortKeyLength bounds a key of ExposedPorts or PortBindings
	// ("65535/tcp" is 9 bytes), and maxHostPortLength a binding's value
	// ("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535" is 47).
	maxPortKeyLength  = 32
	maxHostPortLength = 64
)

// validateLimits refuses a task with a field over its bound. Its errors
// never quote an oversized value, so a refusal is as short as the limit.
func validateLimits(t *Task) field.ErrorList {
	root := field.NewPath("Task")
	var errs field.ErrorList
	for _, s := range []struct {
		name  string
		value string
		max   int
	}{
		{"Name", t.Name, MaxNameLength},
		{"Image", t.Image, v1.MaxImageLength},
		{"HealthCheck", t.HealthCheck, MaxHealthCheckLength},
		{"RestartPolicy", t.RestartPolicy, maxRestartPolicyLength},
	} {
		if len(s.value) > s.max {
			errs = append(errs, field.TooLong(root.Child(s.name), "", s.max))
		}
	}
	errs = append(errs, portKeysWithin(root.Child("ExposedPorts"), len(t.ExposedPorts), maps.Keys(t.ExposedPorts))...)
	bindings := root.Child("PortBindings")
	errs = append(errs, portKeysWithin(bindings, len(t.PortBindings), maps.Keys(t.PortBindings))...)
	for k, v := range t.PortBindings {
		if len(k) <= maxPortKeyLength && len(v) > maxHostPortLength {
			errs = append(errs, field.TooLong(bindings.Key(k), "", maxHostPortLength))
		}
	}
	return errs
}

// portKeysWithin checks a port map's size and the length of its keys. A
// long key is reported once, on the map, since it cannot be quoted.
func portKeysWithin(path *field.Path, n int, keys iter.Seq[string]) field.ErrorList {
	if n > v1.MaxPorts {
		return field.ErrorList{field.TooMany(path, n, v1.MaxPorts)}
	}
	for k := range keys {
		if len(k) > maxPortKeyLength {
			e := field.TooLong(path, "", maxPortKeyLength)
			e.Detail = fmt.Sprintf("a key may not be more than %d bytes (\"65535/tcp\" is 9)", maxPortKeyLength)
			return field.ErrorList{e}
		}
	}
	return nil
}
