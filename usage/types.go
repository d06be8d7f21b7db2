package usage

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// Kinds of the usage endpoint's bodies, beside v1.APIVersion.
const (
	KindTaskUsage     = "TaskUsage"
	KindTaskUsageList = "TaskUsageList"
)

// Sample is one reading of a task's container.
type Sample struct {
	Time time.Time `json:"time"`
	// CPUCores is the average CPU use since the previous reading of the
	// same container, in cores (1.0 = one CPU busy). It is absent on a
	// container's first reading: CPU time is cumulative, so a rate needs two.
	CPUCores *float64 `json:"cpuCores,omitempty"`
	// MemoryBytes is the working set (usage less inactive page cache).
	MemoryBytes uint64 `json:"memoryBytes"`
}

// Limits are the task's own limits (spec.resources); zero means none.
type Limits struct {
	CPUCores    float64 `json:"cpuCores,omitempty"`
	MemoryBytes int64   `json:"memoryBytes,omitempty"`
}

// TaskUsage is the body of GET /v1/tasks/{name}/usage: the latest reading
// and the ring of recent ones, oldest first.
type TaskUsage struct {
	metav1.TypeMeta `json:",inline"`
	Name            string `json:"name"`
	ContainerID     string `json:"containerID,omitempty"`
	// IntervalSeconds is the sampler's --stats-interval.
	IntervalSeconds float64 `json:"intervalSeconds"`
	Limits          Limits  `json:"limits"`
	// Current is the latest reading; absent before the first one.
	Current *Sample  `json:"current,omitempty"`
	Samples []Sample `json:"samples"`
}

// TaskUsageList is the body of GET /v1/usage, sorted by task name.
type TaskUsageList struct {
	metav1.TypeMeta `json:",inline"`
	Items           []TaskUsage `json:"items"`
}

// MemoryPercent is the current memory as a percentage of the task's
// memory limit; ok is false without a limit or a reading.
func (u *TaskUsage) MemoryPercent() (pct float64, ok bool) {
	if u.Current == nil || u.Limits.MemoryBytes <= 0 {
		return 0, false
	}
	return 100 * float64(u.Current.MemoryBytes) / float64(u.Limits.MemoryBytes), true
}

// LimitsOf reads a task's limits from its spec.
func LimitsOf(t *v1.Task) Limits {
	var l Limits
	if q := t.Spec.Resources.CPU; q != nil {
		l.CPUCores = float64(q.MilliValue()) / 1000
	}
	if q := t.Spec.Resources.Memory; q != nil {
		l.MemoryBytes = q.Value()
	}
	return l
}

func typeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{Kind: kind, APIVersion: v1.APIVersion}
}
