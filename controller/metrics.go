package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cubelet/cubelet/runtime"
)

// Metrics are the controller's Prometheus metrics. A nil *Metrics records
// nothing, so tests and benchmarks need not register anything.
type Metrics struct {
	reconciles       *prometheus.CounterVec
	reconcileSeconds *prometheus.HistogramVec
	dockerEvents     *prometheus.CounterVec
	streamDrops      prometheus.Counter
	relists          prometheus.Counter
	foreign          prometheus.Gauge
	probes           *prometheus.CounterVec
	probeSeconds     *prometheus.HistogramVec
	fenced           prometheus.Counter
}

// NewMetrics creates the controller's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cubelet", Name: "reconcile_actions_total",
			Help: "Reconcile actions by action and result.",
		}, []string{"action", "result"}),
		reconcileSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "cubelet", Name: "reconcile_action_duration_seconds",
			Help:    "Duration of reconcile actions by action.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"action"}),
		dockerEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cubelet", Name: "docker_events_total",
			Help: "Container events received from the engine, by action.",
		}, []string{"action"}),
		streamDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "cubelet", Name: "docker_event_stream_reconnects_total",
			Help: "Times the engine's event stream ended and was resubscribed.",
		}),
		relists: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "cubelet", Name: "container_relists_total",
			Help: "Full lists of managed containers (start, reconnect, resync).",
		}),
		foreign: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "cubelet", Name: "foreign_containers",
			Help: "Containers with cubelet's labels that belong to another instance (or none), as of the last list; never touched.",
		}),
	}
	m.probes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "cubelet", Name: "probe_total",
		Help: "Probes run, by probe (liveness, readiness, startup) and result (success, failure).",
	}, []string{"probe", "result"})
	m.probeSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "cubelet", Name: "probe_duration_seconds",
		Help:    "Duration of probes, by probe.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"probe"})
	m.fenced = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "cubelet", Name: "fenced_containers_total",
		Help: "Containers this node stopped because its lease was not held (fencing).",
	})
	reg.MustRegister(m.reconciles, m.reconcileSeconds, m.dockerEvents, m.streamDrops, m.relists, m.foreign, m.probes, m.probeSeconds, m.fenced)
	return m
}

func (m *Metrics) observeAction(action, result string, d time.Duration) {
	if m == nil {
		return
	}
	m.reconciles.WithLabelValues(action, result).Inc()
	m.reconcileSeconds.WithLabelValues(action).Observe(d.Seconds())
}

func (m *Metrics) observeProbe(probe, result string, d time.Duration) {
	if m == nil {
		return
	}
	m.probes.WithLabelValues(probe, result).Inc()
	m.probeSeconds.WithLabelValues(probe).Observe(d.Seconds())
}

func (m *Metrics) observeEvent(action runtime.EventAction) {
	if m == nil {
		return
	}
	m.dockerEvents.WithLabelValues(string(action)).Inc()
}

func (m *Metrics) observeStreamDrop() {
	if m == nil {
		return
	}
	m.streamDrops.Inc()
}

func (m *Metrics) observeRelist() {
	if m == nil {
		return
	}
	m.relists.Inc()
}

func (m *Metrics) observeForeign(n int) {
	if m == nil {
		return
	}
	m.foreign.Set(float64(n))
}

func (m *Metrics) observeFenced() {
	if m == nil {
		return
	}
	m.fenced.Inc()
}
