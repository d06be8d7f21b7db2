package v1_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// The limits of issue 11: every size bounded, quantities that overflow
// refused, image references parsed by the distribution grammar. Each row
// names the field its error must carry, so a row cannot pass by failing
// for another reason.

// validTask is a defaulted task that validates; rows change one thing.
func validTask() *v1.Task {
	t := &v1.Task{Spec: v1.TaskSpec{Image: "nginx"}}
	t.Name = "web"
	v1.SetDefaults(t)
	return t
}

func quantity(s string) *resource.Quantity {
	q := resource.MustParse(s)
	return &q
}

func repeat(n int, s string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// errorFields is the set of field paths errs name.
func errorFields(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		if !slices.Contains(out, e.Field) {
			out = append(out, e.Field)
		}
	}
	return out
}

func TestValidateTask_Limits(t *testing.T) {
	hugeAnnotation := strings.Repeat("a", 256<<10)
	tests := []struct {
		name   string
		mutate func(*v1.Task)
		field  string // "" means valid
	}{
		// Labels: Kubernetes' rules.
		{"label key with a space", func(t *v1.Task) { t.Labels = map[string]string{"a b": "x"} }, "metadata.labels"},
		{"label value of 64 bytes", func(t *v1.Task) { t.Labels = map[string]string{"a": strings.Repeat("v", 64)} }, "metadata.labels"},
		{"label value of 63 bytes", func(t *v1.Task) { t.Labels = map[string]string{"a": strings.Repeat("v", 63)} }, ""},
		// Annotations: keys are qualified names, 256 KiB in all.
		{"annotation key with a space", func(t *v1.Task) { t.Annotations = map[string]string{"a b": "x"} }, "metadata.annotations"},
		{"annotations of 256 KiB", func(t *v1.Task) { t.Annotations = map[string]string{"a": hugeAnnotation[1:]} }, ""},
		{"annotations of 256 KiB + 1", func(t *v1.Task) { t.Annotations = map[string]string{"a": hugeAnnotation} }, "metadata.annotations"},
		{"annotations over 256 KiB in two", func(t *v1.Task) {
			t.Annotations = map[string]string{"a": hugeAnnotation[:128<<10], "b": hugeAnnotation[:128<<10]}
		}, "metadata.annotations"},
		// Image references: the distribution grammar.
		{"image with tag", func(t *v1.Task) { t.Spec.Image = "nginx:1.27" }, ""},
		{"image fully qualified", func(t *v1.Task) { t.Spec.Image = "docker.io/library/nginx:latest" }, ""},
		{"image on a local registry", func(t *v1.Task) { t.Spec.Image = "localhost:5000/team/app:v1" }, ""},
		{"image by digest", func(t *v1.Task) { t.Spec.Image = "nginx@sha256:" + strings.Repeat("a", 64) }, ""},
		{"image test workload", func(t *v1.Task) { t.Spec.Image = "cubelet-workload:latest" }, ""},
		{"image a path", func(t *v1.Task) { t.Spec.Image = "/etc/passwd" }, "spec.image"},
		{"image dot dot", func(t *v1.Task) { t.Spec.Image = "../../x" }, "spec.image"},
		{"image with NUL", func(t *v1.Task) { t.Spec.Image = "nginx\x00" }, "spec.image"},
		{"image upper case", func(t *v1.Task) { t.Spec.Image = "Nginx" }, "spec.image"},
		{"image upper case path", func(t *v1.Task) { t.Spec.Image = "example.com/Team/app" }, "spec.image"},
		{"image empty tag", func(t *v1.Task) { t.Spec.Image = "nginx:" }, "spec.image"},
		{"image bad digest", func(t *v1.Task) { t.Spec.Image = "nginx@sha256:abc" }, "spec.image"},
		{"image a flag", func(t *v1.Task) { t.Spec.Image = "-rm" }, "spec.image"},
		{"image a bare ID", func(t *v1.Task) { t.Spec.Image = strings.Repeat("a", 64) }, "spec.image"},
		{"image too long", func(t *v1.Task) { t.Spec.Image = "a/" + strings.Repeat("b", 5000) }, "spec.image"},
		// Command, args, env and working dir: counts and bytes.
		{"args at the byte limit", func(t *v1.Task) { t.Spec.Args = repeat(64, strings.Repeat("a", 2<<10)) }, ""},
		{"args over the byte limit", func(t *v1.Task) { t.Spec.Args = repeat(129, strings.Repeat("a", 2<<10)) }, "spec.args"},
		{"command and args over the byte limit together", func(t *v1.Task) {
			t.Spec.Command = repeat(65, strings.Repeat("a", 2<<10))
			t.Spec.Args = repeat(64, strings.Repeat("a", 2<<10))
		}, "spec.args"},
		{"too many args", func(t *v1.Task) { t.Spec.Args = repeat(1025, "a") }, "spec.args"},
		{"arg with NUL", func(t *v1.Task) { t.Spec.Args = []string{"a\x00b"} }, "spec.args[0]"},
		{"command with NUL", func(t *v1.Task) { t.Spec.Command = []string{"sh", "\x00"} }, "spec.command[1]"},
		{"env over the byte limit", func(t *v1.Task) {
			for i := range 129 {
				t.Spec.Env = append(t.Spec.Env, v1.EnvVar{Name: "V" + strings.Repeat("X", i), Value: strings.Repeat("v", 2<<10)})
			}
		}, "spec.env"},
		{"working dir absolute", func(t *v1.Task) { t.Spec.WorkingDir = "/srv/app" }, ""},
		{"working dir relative", func(t *v1.Task) { t.Spec.WorkingDir = "app" }, "spec.workingDir"},
		{"working dir too long", func(t *v1.Task) { t.Spec.WorkingDir = "/" + strings.Repeat("d", 4096) }, "spec.workingDir"},
		{"working dir with NUL", func(t *v1.Task) { t.Spec.WorkingDir = "/a\x00" }, "spec.workingDir"},
		// CPU: from Docker's 0.01 to 1024 cores, never wrapped.
		{"cpu 10m", func(t *v1.Task) { t.Spec.Resources.CPU = quantity("10m") }, ""},
		{"cpu 1024", func(t *v1.Task) { t.Spec.Resources.CPU = quantity("1024") }, ""},
		{"cpu 1e400", func(t *v1.Task) { t.Spec.Resources.CPU = quantity("1e400") }, "spec.resources.cpu"},
		{"cpu 18446744073710", func(t *v1.Task) { t.Spec.Resources.CPU = quantity("18446744073710") }, "spec.resources.cpu"},
		{"cpu int64 max", func(t *v1.Task) { t.Spec.Resources.CPU = quantity("9223372036854775807") }, "spec.resources.cpu"},
		{"cpu 1025", func(t *v1.Task) { t.Spec.Resources.CPU = quantity("1025") }, "spec.resources.cpu"},
		{"cpu below Docker's 0.01", func(t *v1.Task) { t.Spec.Resources.CPU = quantity("9m") }, "spec.resources.cpu"},
		{"cpu 1e-400", func(t *v1.Task) { t.Spec.Resources.CPU = quantity("1e-400") }, "spec.resources.cpu"},
		{"cpu zero", func(t *v1.Task) { t.Spec.Resources.CPU = quantity("0") }, "spec.resources.cpu"},
		{"cpu negative", func(t *v1.Task) { t.Spec.Resources.CPU = quantity("-1") }, "spec.resources.cpu"},
		// Memory: from Docker's 6 MiB to 1 PiB, never wrapped.
		{"memory 6Mi", func(t *v1.Task) { t.Spec.Resources.Memory = quantity("6Mi") }, ""},
		{"memory 1Pi", func(t *v1.Task) { t.Spec.Resources.Memory = quantity("1Pi") }, ""},
		{"memory 1e30", func(t *v1.Task) { t.Spec.Resources.Memory = quantity("1e30") }, "spec.resources.memory"},
		{"memory 1e400", func(t *v1.Task) { t.Spec.Resources.Memory = quantity("1e400") }, "spec.resources.memory"},
		{"memory 8Ei", func(t *v1.Task) { t.Spec.Resources.Memory = quantity("8Ei") }, "spec.resources.memory"},
		{"memory 1Pi + 1", func(t *v1.Task) { t.Spec.Resources.Memory = quantity("1125899906842625") }, "spec.resources.memory"},
		{"memory below Docker's 6Mi", func(t *v1.Task) { t.Spec.Resources.Memory = quantity("6291455") }, "spec.resources.memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := validTask()
			tt.mutate(task)
			errs := v1.ValidateTask(task)
			got := errorFields(errs)
			switch {
			case tt.field == "" && len(errs) > 0:
				t.Fatalf("want valid, got %v", errs.ToAggregate())
			case tt.field != "" && !slices.Equal(got, []string{tt.field}):
				t.Fatalf("errors on %v, want exactly on %s: %v", got, tt.field, errs.ToAggregate())
			}
			for _, e := range errs {
				if len(e.Error()) > 1024 {
					t.Errorf("error of %d bytes: a refusal must not echo a huge value", len(e.Error()))
				}
			}
		})
	}
}

func TestValidateResourcesFit_RefusesMoreThanTheHostHas(t *testing.T) {
	const hostCPUs, hostMemory = 2, 8 << 30
	path := field.NewPath("spec", "resources")
	tests := []struct {
		name                string
		cpu, memory         string
		hostCPUs, hostBytes int
		fields              []string
	}{
		{"within", "2", "8Gi", hostCPUs, hostMemory, nil},
		{"cpu over", "2001m", "", hostCPUs, hostMemory, []string{"spec.resources.cpu"}},
		{"memory over", "", "8589934593", hostCPUs, hostMemory, []string{"spec.resources.memory"}},
		{"both over", "3", "9Gi", hostCPUs, hostMemory, []string{"spec.resources.cpu", "spec.resources.memory"}},
		{"host unknown", "3", "9Gi", 0, 0, nil},
		{"no limits", "", "", hostCPUs, hostMemory, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r v1.Resources
			if tt.cpu != "" {
				r.CPU = quantity(tt.cpu)
			}
			if tt.memory != "" {
				r.Memory = quantity(tt.memory)
			}
			errs := v1.ValidateResourcesFit(&r, tt.hostCPUs, int64(tt.hostBytes), path)
			if got := errorFields(errs); !slices.Equal(got, tt.fields) {
				t.Errorf("errors on %v, want %v: %v", got, tt.fields, errs.ToAggregate())
			}
		})
	}
}

// Quantity.Cmp on a decimal of huge scale builds 10^scale: validation must
// answer such values at once, not after minutes and gigabytes. (A huge
// negative exponent, "1e-674407370", hangs ParseQuantity itself, in the
// decoder, before validation sees it.)
func TestValidateTask_HugeExponents_AnsweredAtOnce(t *testing.T) {
	for _, s := range []string{"e674407370", "1e674407370", "9e2147483647"} {
		q, err := resource.ParseQuantity(s)
		if err != nil {
			t.Logf("%s: not a quantity: %v", s, err)
			continue
		}
		task := validTask()
		task.Spec.Resources = v1.Resources{CPU: &q, Memory: &q}
		done := make(chan field.ErrorList, 1)
		go func() { done <- v1.ValidateTask(task) }()
		select {
		case errs := <-done:
			if got := errorFields(errs); !slices.Equal(got, []string{"spec.resources.cpu", "spec.resources.memory"}) {
				t.Errorf("%s: errors on %v: %v", s, got, errs.ToAggregate())
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: ValidateTask still running after 5s", s)
		}
	}
}

// resource.ParseQuantity builds 10^|exponent| to round a value to nanos:
// "1e-674407370" takes it minutes and gigabytes, inside the JSON decoder,
// before any validation runs. CheckQuantitySpellings finds such spellings
// in a task's JSON first, wherever the decoder would parse them.
func TestCheckQuantitySpellings(t *testing.T) {
	long := strings.Repeat("1", 65)
	tests := []struct {
		name, body string
		fields     []string
	}{
		{"plain", `{"spec":{"image":"nginx","resources":{"cpu":"500m","memory":"64Mi"}}}`, nil},
		{"exponents within bounds", `{"spec":{"resources":{"cpu":"1e400","memory":"1e-1000"}}}`, nil},
		{"numbers", `{"spec":{"resources":{"cpu":2,"memory":1e30}}}`, nil},
		{"huge negative exponent", `{"spec":{"resources":{"cpu":"1e-674407370"}}}`, []string{"spec.resources.cpu"}},
		{"huge exponent with E", `{"spec":{"resources":{"memory":"12345678901234567890123E674407"}}}`, []string{"spec.resources.memory"}},
		{"huge exponent as a number", `{"spec":{"resources":{"memory":1e-674407370}}}`, []string{"spec.resources.memory"}},
		{"too long", `{"spec":{"resources":{"cpu":"` + long + `"}}}`, []string{"spec.resources.cpu"}},
		{"after an empty key", `{"spec":{"resources":{"":1,"cpu":"1e-674407370"}}}`, []string{"spec.resources.cpu"}},
		{"after nested values", `{"spec":{"x":[{"a":[1]}],"resources":{"y":{"z":[]},"memory":"1e1001"}}}`, []string{"spec.resources.memory"}},
		{"duplicate key hides one", `{"spec":{"resources":{"cpu":"1e-674407370","cpu":"1"}}}`, []string{"spec.resources.cpu"}},
		{"elsewhere it is text", `{"metadata":{"annotations":{"cpu":"1e-674407370"}},"spec":{"args":["1e-674407370"],"env":[{"name":"cpu","value":"1e-674407370"}]}}`, nil},
		{"resources elsewhere", `{"metadata":{"resources":{"cpu":"1e-674407370"}},"spec":{"x":{"resources":{"cpu":"1e-674407370"}}}}`, nil},
		{"malformed JSON is the decoder's", `{"spec":{"resources":{"cpu":`, nil},
		{"deep nesting", strings.Repeat("[", 100000) + strings.Repeat("]", 100000), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := v1.CheckQuantitySpellings([]byte(tt.body))
			if got := errorFields(errs); !slices.Equal(got, tt.fields) {
				t.Errorf("errors on %v, want %v: %v", got, tt.fields, errs.ToAggregate())
			}
		})
	}
}
