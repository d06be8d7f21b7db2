package usage

import "github.com/prometheus/client_golang/prometheus"

var (
	cpuDesc = prometheus.NewDesc("cubelet_task_cpu_cores",
		"CPU used by the task's container, in cores, averaged since the previous reading (--stats-interval).",
		[]string{"task"}, nil)
	memoryDesc = prometheus.NewDesc("cubelet_task_memory_bytes",
		"Working-set memory of the task's container (usage less inactive page cache), in bytes.",
		[]string{"task"}, nil)
)

// Collector exports the latest reading of every running task as gauges.
// It reads the cache at scrape time instead of keeping a GaugeVec in step,
// so the series of a task that stopped or was deleted vanish with its
// cache entry; nothing has to remember to delete them.
func (s *Sampler) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Sampler }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- cpuDesc
	ch <- memoryDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, u := range c.s.List(false).Items {
		if u.Current == nil {
			continue
		}
		if u.Current.CPUCores != nil {
			ch <- prometheus.MustNewConstMetric(cpuDesc, prometheus.GaugeValue, *u.Current.CPUCores, u.Name)
		}
		ch <- prometheus.MustNewConstMetric(memoryDesc, prometheus.GaugeValue, float64(u.Current.MemoryBytes), u.Name)
	}
}
