package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cubelet/cubelet/controller"
)

func TestE2E_Metrics_WorkqueueReconcilesTasksAndStoreWrites(t *testing.T) {
	e := newEnv(t)
	c := e.start()
	c.put(e.task("web"))
	c.waitRunning("web")

	queue := map[string]string{"name": controller.QueueName}
	eventually(t, 30*time.Second, "metrics after work", func() (bool, string) {
		m, err := c.scrapeMetrics()
		if err != nil {
			return false, err.Error()
		}
		checks := []struct {
			what string
			ok   bool
		}{
			{`workqueue_adds_total{name="cubelet_tasks"} > 0`, sum(m, "workqueue_adds_total", queue) > 0},
			{`workqueue_work_duration_seconds{name="cubelet_tasks"} observed`, sum(m, "workqueue_work_duration_seconds", queue) > 0},
			{`workqueue_depth{name="cubelet_tasks"} exported`, m["workqueue_depth"] != nil},
			{`workqueue_retries_total exported`, m["workqueue_retries_total"] != nil},
			{`cubelet_reconcile_actions_total{action="create",result="ok"} > 0`,
				sum(m, "cubelet_reconcile_actions_total", map[string]string{"action": "create", "result": "ok"}) > 0},
			{`cubelet_reconcile_action_duration_seconds observed`, sum(m, "cubelet_reconcile_action_duration_seconds", nil) > 0},
			{`cubelet_docker_events_total > 0`, sum(m, "cubelet_docker_events_total", nil) > 0},
			{`cubelet_tasks{state="Running"} == 1`, sum(m, "cubelet_tasks", map[string]string{"state": "Running"}) == 1},
			{`cubelet_tasks{state="Failed"} == 0 exported`, m["cubelet_tasks"] != nil &&
				len(m["cubelet_tasks"].GetMetric()) == 5},
			{`cubelet_store_write_duration_seconds{operation="create"} observed`,
				sum(m, "cubelet_store_write_duration_seconds", map[string]string{"operation": "create", "result": "ok"}) == 1},
			{`cubelet_store_write_duration_seconds{operation="update_status"} observed`,
				sum(m, "cubelet_store_write_duration_seconds", map[string]string{"operation": "update_status"}) > 0},
			{`go_goroutines exported`, m["go_goroutines"] != nil},
			{`process_resident_memory_bytes exported`, m["process_resident_memory_bytes"] != nil},
		}
		for _, ch := range checks {
			if !ch.ok {
				return false, "missing: " + ch.what
			}
		}
		return true, ""
	})
}

// scrapeMetrics GETs /metrics and parses the text exposition format.
func (c *cubelet) scrapeMetrics() (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(c.base + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	m, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	return m, nil
}

// sum adds up the series of a family whose labels include want: counter
// and gauge values, histogram sample counts.
func sum(m map[string]*dto.MetricFamily, family string, want map[string]string) float64 {
	var total float64
	for _, metric := range m[family].GetMetric() {
		if !hasLabels(metric, want) {
			continue
		}
		switch {
		case metric.Counter != nil:
			total += metric.GetCounter().GetValue()
		case metric.Gauge != nil:
			total += metric.GetGauge().GetValue()
		case metric.Histogram != nil:
			total += float64(metric.GetHistogram().GetSampleCount())
		}
	}
	return total
}

func hasLabels(metric *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, l := range metric.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
