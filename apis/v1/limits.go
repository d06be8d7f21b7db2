package v1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits on a Task, so that no object can take the server's memory or ask
// the host for something Docker or the kernel would refuse at create time
// (which would leave the task retrying forever as CreateContainerError).
// docs/api.md ("Limits") lists them for users; keep the two in step.
//
// Labels and annotations have no constants here: they follow Kubernetes
// exactly (metav1validation.ValidateLabels: keys are qualified names,
// values at most 63 bytes; apimachinery's ValidateAnnotations: keys are
// qualified names, keys and values together at most 256 KiB).
const (
	// MaxImageLength bounds spec.image before it is parsed. The grammar
	// bounds the repository path to 255 bytes and a tag to 128; the rest
	// is room for a registry host and a sha512 digest.
	MaxImageLength = 1024

	// MaxArgs bounds the number of entries of spec.command and, apart,
	// of spec.args.
	MaxArgs = 1024
	// MaxArgLength is Linux's MAX_ARG_STRLEN (32 pages, counting the
	// terminating NUL): execve fails with E2BIG on a longer string. It
	// bounds each entry of command and args, and each env "NAME=value".
	MaxArgLength = 128<<10 - 1
	// MaxArgsBytes bounds the bytes of command and args together, and
	// MaxEnvBytes those of env's names and values. With both full, the
	// new process's argv and envp stay far below the usual ARG_MAX of
	// 2 MiB.
	MaxArgsBytes = 256 << 10
	MaxEnvBytes  = 256 << 10
	// MaxEnv bounds the number of entries of spec.env.
	MaxEnv = 1024

	// MaxWorkingDirLength is Linux's PATH_MAX less its terminating NUL.
	MaxWorkingDirLength = 4095

	// MaxPorts bounds spec.ports.
	MaxPorts = 128

	// MaxStopGracePeriodSeconds bounds spec.stopGracePeriodSeconds.
	MaxStopGracePeriodSeconds = 3600
)

// Resource bounds, unexported because a Quantity is mutable. The controller hands Docker
//
//	NanoCPUs = cpu.MilliValue() * int64(time.Millisecond)
//	Memory   = memory.Value()
//
// and both conversions are only exact inside these bounds: a Quantity
// above int64 reads as 0 ("1e400" gave a container no limit at all) and
// MilliValue times 10^6 wraps beyond about 9.2 million cores
// ("18446744073710" cores became 0.45). Within them, MilliValue is at most
// 1,024,000, so NanoCPUs is at most 1.024e12, and Docker's own CFS quota
// (NanoCPUs * 100000 / 1e9) at most 1.024e17; Memory is at most 2^50: all
// far below 2^63. ValidateTask refuses anything outside them, so no valid
// task can overflow.
var (
	// minCPU is Docker's floor: a CFS quota below 1 ms per 100 ms period
	// is refused by the kernel, and Docker says "range of CPUs is from
	// 0.01".
	minCPU = resource.MustParse("10m")
	// maxCPU is a static ceiling, whatever the host: no host cubelet runs
	// on has more cores. The host's own count is checked on admission
	// (ValidateResourcesFit).
	maxCPU = resource.MustParse("1024")
	// minMemory is Docker's floor, linuxMinMemory: 6291456 bytes.
	minMemory = resource.MustParse("6Mi")
	// maxMemory is a static ceiling, whatever the host; the host's own
	// memory is checked on admission (ValidateResourcesFit).
	maxMemory = resource.MustParse("1Pi")
)

// Bounds on how a quantity may be written, checked on the request body
// before the JSON decoder parses it (CheckQuantitySpellings).
const (
	maxQuantityLength   = 64
	maxQuantityExponent = 1000
)

// CheckQuantitySpellings finds, in a task's JSON, the quantities of
// spec.resources that resource.ParseQuantity cannot parse in reasonable
// time: to round a value to nanos it builds 10^|exponent|, so
// "1e-674407370" takes minutes and gigabytes inside the decoder, before
// any validation can run. A spelling longer than 64 bytes or with a
// decimal exponent beyond ±1000 (parsed in microseconds) is refused;
// every valid quantity (10m to 1Pi) fits many times over, and "1e400"
// still reaches validation, which names the limit it breaks. Each occurrence is checked, duplicates
// included, since a strict decoder still parses the value of a duplicate
// key before refusing it. Malformed JSON is left to the decoder.
func CheckQuantitySpellings(body []byte) field.ErrorList {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	// frames are the open objects and arrays of the first three levels,
	// the only ones that can lead to spec.resources; deeper ones are
	// only counted.
	type frame struct {
		object  bool
		wantKey bool   // in an object: the next string is a key
		key     string // in an object: the key of the value being read
	}
	var frames []frame
	depth := 0
	var errs field.ErrorList
	check := func(value string) {
		if depth != 3 || frames[0].key != "spec" || frames[1].key != "resources" || !frames[2].object {
			return
		}
		if k := frames[2].key; k == "cpu" || k == "memory" {
			errs = append(errs, checkQuantitySpelling(field.NewPath("spec", "resources", k), value)...)
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return errs
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
				if depth <= 3 {
					frames = append(frames, frame{object: v == '{', wantKey: v == '{'})
				}
				continue
			}
			if depth <= 3 {
				frames = frames[:depth-1]
			}
			depth--
		case string:
			if depth > 0 && depth <= 3 && frames[depth-1].wantKey {
				frames[depth-1].key, frames[depth-1].wantKey = v, false
				continue
			}
			check(v)
		case json.Number:
			check(string(v))
		}
		// A value ended: in an object, a key comes next.
		if depth > 0 && depth <= 3 && frames[depth-1].object {
			frames[depth-1].wantKey = true
		}
	}
}

// checkQuantitySpelling checks one quantity's spelling.
func checkQuantitySpelling(path *field.Path, value string) field.ErrorList {
	if len(value) > maxQuantityLength {
		return field.ErrorList{field.TooLong(path, "", maxQuantityLength)}
	}
	if i := strings.LastIndexAny(value, "eE"); i >= 0 {
		// "1E" is exa, not an exponent: only digits after it make one.
		if exp, err := strconv.Atoi(value[i+1:]); err == nil && (exp > maxQuantityExponent || exp < -maxQuantityExponent) {
			return field.ErrorList{field.Invalid(path, value,
				fmt.Sprintf("the exponent may not be beyond ±%d", maxQuantityExponent))}
		}
	}
	return nil
}
