package scheduler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of a scheduling attempt (cubelet_scheduler_attempts_total).
const (
	resultBound         = "bound"
	resultUnschedulable = "unschedulable"
	resultConflict      = "conflict"
	resultError         = "error"
)

// Kinds of failover (cubelet_scheduler_failovers_total).
const (
	kindRebound   = "rebound"
	kindUnbound   = "unbound"
	kindNodeLost  = "nodelost"
	kindFinalized = "finalized"
)

// metrics are the scheduler's Prometheus metrics. They always exist; with
// no Registerer they are simply not exported, so the code that records
// needs no nil checks.
type metrics struct {
	attempts  *prometheus.CounterVec
	binding   prometheus.Histogram
	failovers *prometheus.CounterVec
	leader    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cubelet", Subsystem: "scheduler", Name: "attempts_total",
			Help: "Attempts to bind a task (unbound, or moved off a lost node), by result: bound, unschedulable (no node fits; retried every resync), conflict (the task changed meanwhile), error.",
		}, []string{"result"}),
		binding: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "cubelet", Subsystem: "scheduler", Name: "binding_duration_seconds",
			Help:    "Time from the list in which this leader first saw a task unbound to its binding: the wait for a node that fits plus the pass's own latency.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1ms .. ~33s
		}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cubelet", Subsystem: "scheduler", Name: "failovers_total",
			Help: "Tasks of lost nodes acted on, by kind: rebound (to another node), unbound (no node fits), nodelost (a Never run ended Failed/NodeLost), finalized (a deleted task's finalizer released).",
		}, []string{"kind"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "cubelet", Subsystem: "scheduler", Name: "leader",
			Help: "1 while this cubelet's scheduler leads the election, else 0.",
		}),
	}
	// Every label value exists from the start, so a rate() over it has a
	// series before the first event.
	for _, r := range []string{resultBound, resultUnschedulable, resultConflict, resultError} {
		m.attempts.WithLabelValues(r)
	}
	for _, k := range []string{kindRebound, kindUnbound, kindNodeLost, kindFinalized} {
		m.failovers.WithLabelValues(k)
	}
	if reg != nil {
		reg.MustRegister(m.attempts, m.binding, m.failovers, m.leader)
	}
	return m
}

func (m *metrics) attempt(result string) { m.attempts.WithLabelValues(result).Inc() }

func (m *metrics) failover(kind string) { m.failovers.WithLabelValues(kind).Inc() }

func (m *metrics) bound(firstSeen, now time.Time) {
	if !firstSeen.IsZero() {
		m.binding.Observe(now.Sub(firstSeen).Seconds())
	}
}
