package store

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// WithWriteMetrics wraps s so that every write (create, update,
// update_status, delete) is timed into
// cubelet_store_write_duration_seconds{operation,result}, registered with
// reg. The time covers the whole call, group commit and fsync included:
// what a writer actually waits. Reads and watches pass straight through.
func WithWriteMetrics(s Interface, reg prometheus.Registerer) Interface {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "cubelet", Subsystem: "store", Name: "write_duration_seconds",
		Help:    "Latency of task store writes, commit included, by operation and result.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 100µs .. ~3.3s
	}, []string{"operation", "result"})
	reg.MustRegister(h)
	return &timedStore{Interface: s, seconds: h}
}

// As finds the optional capability T (Backuper, Streamer, ...) of s, looking
// through wrappers such as WithWriteMetrics's: a type assertion on the
// wrapper alone would hide what the store underneath can do.
func As[T any](s Interface) (T, bool) {
	for s != nil {
		if c, ok := s.(T); ok {
			return c, true
		}
		u, ok := s.(interface{ Unwrap() Interface })
		if !ok {
			break
		}
		s = u.Unwrap()
	}
	var zero T
	return zero, false
}

type timedStore struct {
	Interface
	seconds *prometheus.HistogramVec
}

// Unwrap returns the store the metrics wrap.
func (s *timedStore) Unwrap() Interface { return s.Interface }

func (s *timedStore) observe(op string, start time.Time, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	s.seconds.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
}

func (s *timedStore) Create(ctx context.Context, t *v1.Task) (*v1.Task, error) {
	start := time.Now()
	out, err := s.Interface.Create(ctx, t)
	s.observe("create", start, err)
	return out, err
}

func (s *timedStore) Update(ctx context.Context, t *v1.Task) (*v1.Task, error) {
	start := time.Now()
	out, err := s.Interface.Update(ctx, t)
	s.observe("update", start, err)
	return out, err
}

func (s *timedStore) UpdateStatus(ctx context.Context, t *v1.Task) (*v1.Task, error) {
	start := time.Now()
	out, err := s.Interface.UpdateStatus(ctx, t)
	s.observe("update_status", start, err)
	return out, err
}

func (s *timedStore) UpdateFrom(ctx context.Context, current, t *v1.Task) (*v1.Task, error) {
	start := time.Now()
	out, err := UpdateFrom(ctx, s.Interface, current, t)
	s.observe("update", start, err)
	return out, err
}

func (s *timedStore) UpdateStatusFrom(ctx context.Context, current, t *v1.Task) (*v1.Task, error) {
	start := time.Now()
	out, err := UpdateStatusFrom(ctx, s.Interface, current, t)
	s.observe("update_status", start, err)
	return out, err
}

func (s *timedStore) Delete(ctx context.Context, name, uid string) (*v1.Task, error) {
	start := time.Now()
	out, err := s.Interface.Delete(ctx, name, uid)
	s.observe("delete", start, err)
	return out, err
}
