package controller

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/tools/cache"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// taskStateDesc is cubelet_tasks{state}: how many tasks are in each state.
var taskStateDesc = prometheus.NewDesc("cubelet_tasks",
	"Tasks by status.state, as the controller's task cache holds them.",
	[]string{"state"}, nil)

// TaskStateCollector returns the collector of cubelet_tasks{state}. It
// counts the task informer's cache at scrape time instead of keeping
// gauges up to date on every event, so it costs nothing between scrapes
// and cannot drift from what the controller sees. Every state is always
// exported, zero when empty, so a dashboard's series do not come and go.
func (c *Controller) TaskStateCollector() prometheus.Collector {
	return &taskStateCollector{cache: c.tasks}
}

type taskStateCollector struct {
	cache cache.Store
}

func (tc *taskStateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- taskStateDesc }

func (tc *taskStateCollector) Collect(ch chan<- prometheus.Metric) {
	counts := make(map[v1.State]int, len(v1.States))
	for _, s := range v1.States {
		counts[s] = 0
	}
	for _, obj := range tc.cache.List() {
		if t, ok := obj.(*v1.Task); ok {
			state := t.Status.State
			if state == "" {
				state = v1.Pending // stored but not yet acted on
			}
			counts[state]++
		}
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(taskStateDesc, prometheus.GaugeValue, float64(n), string(state))
	}
}
