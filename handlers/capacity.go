package handlers

import (
	"os"
	goruntime "runtime"
	"sync"

	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/hoststats"
)

// hostCapacity is what this host can give one container: the CPUs this
// process may run on (runtime.NumCPU, the count dockerd applies in its
// own "range of CPUs" check when it runs on the same host) and MemTotal
// in bytes, 0 when /proc/meminfo cannot be read. Read once: neither
// changes under a running server.
var hostCapacity = sync.OnceValues(func() (int, int64) {
	var memory int64
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		if m, err := hoststats.ParseMemInfo(data); err == nil {
			memory = int64(m.MemTotal) * 1024 // kB
		}
	}
	return goruntime.NumCPU(), memory
})

// validateAdmission is v1.ValidateTask plus what only the server knows:
// that the resources fit this host. Docker would refuse more CPUs than
// the host has at create time, and the task would retry forever. The fit
// is checked only on a valid task, whose quantities are known to be
// within the static bounds.
func validateAdmission(t *v1.Task) field.ErrorList {
	if errs := v1.ValidateTask(t); len(errs) > 0 {
		return errs
	}
	cpus, memory := hostCapacity()
	return v1.ValidateResourcesFit(&t.Spec.Resources, cpus, memory, field.NewPath("spec", "resources"))
}
