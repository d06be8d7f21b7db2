package cube

import (
	"fmt"
	"math"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// maxCPU bounds Cpu so that its millicores fit an int64 with room to spare.
const maxCPU = 1e12

// resourcesToV1 turns Cube's Cpu (cores) and Memory (bytes) into v1
// quantities; zero means no limit. Negative values are passed on for
// validation to reject with a field path; values no quantity can hold
// are refused here.
func resourcesToV1(cpu float64, memory int64) (v1.Resources, error) {
	var r v1.Resources
	if cpu != 0 {
		if math.IsNaN(cpu) || math.Abs(cpu) > maxCPU {
			return v1.Resources{}, fmt.Errorf("Cpu %g is out of range", cpu)
		}
		milli := math.Round(cpu * 1000)
		if milli == 0 {
			return v1.Resources{}, fmt.Errorf("Cpu %g is below the smallest limit, 0.001 cores", cpu)
		}
		r.CPU = resource.NewMilliQuantity(int64(milli), resource.DecimalSI)
	}
	if memory != 0 {
		r.Memory = resource.NewQuantity(memory, resource.BinarySI)
	}
	return r, nil
}

// resourcesFromV1 is the inverse of resourcesToV1.
func resourcesFromV1(r v1.Resources) (cpu float64, memory int64) {
	if r.CPU != nil {
		cpu = float64(r.CPU.MilliValue()) / 1000
	}
	if r.Memory != nil {
		memory = r.Memory.Value()
	}
	return cpu, memory
}
