package v1_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/distribution/reference"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// FuzzValidateTask drives SetDefaults and ValidateTask with any task JSON
// can express (decoded leniently, so the fuzzer reaches the validators
// rather than the decoder) under any name. Neither may panic; defaulting
// is idempotent and validation is deterministic and read-only; every
// error names a field; and a task that validates has every default set,
// converts to Docker's NanoCPUs and Memory without overflow, and names an
// image the reference grammar parses.
// The seed corpus is in testdata/fuzz/FuzzValidateTask.
func FuzzValidateTask(f *testing.F) {
	f.Add([]byte(`{"spec":{"image":"nginx"}}`), "web")
	f.Fuzz(func(t *testing.T, body []byte, name string) {
		var task v1.Task
		if json.Unmarshal(body, &task) != nil {
			return
		}
		task.Name = name

		v1.SetDefaults(&task)
		defaulted := task.DeepCopy()
		v1.SetDefaults(&task)
		if !equality.Semantic.DeepEqual(defaulted, &task) {
			t.Fatalf("SetDefaults is not idempotent:\n%+v\n%+v", defaulted, &task)
		}

		errs := v1.ValidateTask(&task)
		if !equality.Semantic.DeepEqual(defaulted, &task) {
			t.Fatalf("ValidateTask changed the task:\n%+v\n%+v", defaulted, &task)
		}
		// As a set: label errors come in map order, as in Kubernetes.
		if again := v1.ValidateTask(&task); !slices.Equal(errorSet(errs), errorSet(again)) {
			t.Fatalf("ValidateTask is not deterministic:\n%v\n%v", errs, again)
		}
		for _, e := range errs {
			if e.Field == "" || e.Type == "" {
				t.Fatalf("error without a field or type: %#v", e)
			}
		}
		if len(errs) > 0 {
			return
		}
		s := task.Spec
		if task.APIVersion != v1.APIVersion || task.Kind != v1.KindTask || s.Image == "" ||
			s.RestartPolicy == "" || s.ImagePullPolicy == "" || s.StopGracePeriodSeconds == nil || s.DesiredState == "" {
			t.Fatalf("a valid task lacks a default: %+v", task)
		}
		for _, p := range s.Ports {
			if p.Protocol == "" {
				t.Fatalf("a valid task has a port without protocol: %+v", p)
			}
		}
		// The controller's conversions to Docker must be exact for every
		// valid task: no wrap, no saturation, nothing read as "unlimited".
		if cpu := s.Resources.CPU; cpu != nil {
			milli := cpu.MilliValue()
			nano := milli * int64(time.Millisecond)
			if milli <= 0 || nano/int64(time.Millisecond) != milli || nano < 1e7 || nano > 1024e9 {
				t.Fatalf("valid cpu %s gives NanoCPUs %d", cpu, nano)
			}
		}
		if mem := s.Resources.Memory; mem != nil {
			if b := mem.Value(); b < 6<<20 || b > 1<<50 {
				t.Fatalf("valid memory %s gives %d bytes", mem, b)
			}
		}
		if _, err := reference.ParseNormalizedNamed(s.Image); err != nil {
			t.Fatalf("valid image %q does not parse: %v", s.Image, err)
		}
	})
}

func errorSet(errs field.ErrorList) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, e.Error())
	}
	slices.Sort(out)
	return out
}
