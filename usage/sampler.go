package usage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
)

// Source reads a container's resource use (runtime.Docker, runtime/fake).
type Source interface {
	ContainerStats(ctx context.Context, id string) (runtime.Stats, error)
}

// TaskLister lists tasks (store.Interface).
type TaskLister interface {
	List(ctx context.Context, selector labels.Selector) (*v1.TaskList, error)
}

// Options tune the sampler; zero values take the defaults.
type Options struct {
	// Interval between rounds (--stats-interval); default 10 s.
	Interval time.Duration
	// MaxPerRound bounds the containers read in one round; with more
	// running tasks, rounds take turns through them by name, so every task
	// is read, less often. Default 64.
	MaxPerRound int
	// Concurrency bounds the reads in flight; default 4: a one-shot read
	// costs the daemon a cgroup walk, and the sampler must never compete
	// with the controller's create and start calls.
	Concurrency int
	// RingSize is how many readings each task keeps; default 60 (ten
	// minutes at the default interval).
	RingSize int
	Logger   *slog.Logger
}

// Defaults of Options.
const (
	DefaultInterval    = 10 * time.Second
	defaultMaxPerRound = 64
	defaultConcurrency = 4
	defaultRingSize    = 60
	// maxReadTimeout bounds one read; a shorter interval bounds it more.
	maxReadTimeout = 5 * time.Second
)

// Sampler reads running tasks' containers every interval and keeps each
// task's recent readings. Its methods are safe for concurrent use.
type Sampler struct {
	tasks TaskLister
	src   Source
	opts  Options
	log   *slog.Logger

	// round serialises rounds (Run's ticker and tests calling Round).
	round sync.Mutex
	// cursor is the name the last round of a partial pass ended at.
	cursor string

	mu     sync.RWMutex
	byTask map[string]*series
}

// series is one task's readings: the ring and the previous raw reading,
// which the next one's CPU rate is computed against.
type series struct {
	containerID string
	limits      Limits
	prev        runtime.Stats
	hasPrev     bool
	ring        []Sample // oldest first, at most RingSize
}

// New returns a sampler over tasks and src. Nothing runs until Run.
func New(tasks TaskLister, src Source, opts Options) *Sampler {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.MaxPerRound <= 0 {
		opts.MaxPerRound = defaultMaxPerRound
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = defaultConcurrency
	}
	if opts.RingSize <= 0 {
		opts.RingSize = defaultRingSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sampler{tasks: tasks, src: src, opts: opts, log: opts.Logger, byTask: map[string]*series{}}
}

// Interval is the time between rounds.
func (s *Sampler) Interval() time.Duration { return s.opts.Interval }

// Run samples at once and then every interval until ctx ends. A round
// that fails (the store unreadable) is logged and the next one tried.
func (s *Sampler) Run(ctx context.Context) {
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		if err := s.Round(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("usage sampling round failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// target is one container to read in a round.
type target struct {
	task        string
	containerID string
	limits      Limits
}

// Round lists the tasks, forgets the ones no longer running, and reads at
// most MaxPerRound of the running ones' containers, Concurrency at a time.
// A container that vanished between the list and the read is skipped: the
// next list tells. Read errors are logged, not returned, so one bad
// container does not hide the others' figures.
func (s *Sampler) Round(ctx context.Context) error {
	s.round.Lock()
	defer s.round.Unlock()
	list, err := s.tasks.List(ctx, labels.Everything())
	if err != nil {
		return fmt.Errorf("list tasks for usage: %w", err)
	}
	running := make([]target, 0, len(list.Items))
	for i := range list.Items {
		t := &list.Items[i]
		if t.Status.State == v1.Running && t.Status.ContainerID != "" && t.DeletionTimestamp == nil {
			running = append(running, target{task: t.Name, containerID: t.Status.ContainerID, limits: LimitsOf(t)})
		}
	}
	sort.Slice(running, func(i, j int) bool { return running[i].task < running[j].task })
	s.forget(running)

	batch := s.nextBatch(running)
	readCtx, cancel := context.WithTimeout(ctx, min(s.opts.Interval, maxReadTimeout))
	defer cancel()
	g := errgroup.Group{}
	g.SetLimit(s.opts.Concurrency)
	for _, tg := range batch {
		g.Go(func() error {
			st, err := s.src.ContainerStats(readCtx, tg.containerID)
			switch {
			case errors.Is(err, runtime.ErrNotFound):
				return nil
			case err != nil:
				s.log.Debug("usage read failed", "task", tg.task, "container", tg.containerID, "err", err)
				return nil
			}
			s.record(tg, st)
			return nil
		})
	}
	_ = g.Wait() // the reads never fail the group
	return nil
}

// nextBatch picks the containers this round reads: all of them when they
// fit, otherwise the next MaxPerRound after the cursor, wrapping round.
func (s *Sampler) nextBatch(running []target) []target {
	n := s.opts.MaxPerRound
	if len(running) <= n {
		s.cursor = ""
		return running
	}
	start, _ := slices.BinarySearchFunc(running, s.cursor, func(t target, name string) int {
		if t.task <= name {
			return -1
		}
		return 1
	})
	batch := make([]target, 0, n)
	for i := 0; i < n; i++ {
		batch = append(batch, running[(start+i)%len(running)])
	}
	s.cursor = batch[n-1].task
	return batch
}

// forget drops the series of tasks that are not running any more, so
// their gauges go with them, and keeps the others' even if not read this
// round.
func (s *Sampler) forget(running []target) {
	live := make(map[string]bool, len(running))
	for _, t := range running {
		live[t.task] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name := range s.byTask {
		if !live[name] {
			delete(s.byTask, name)
		}
	}
}

// record adds a reading to the task's ring. A new container (a restart)
// keeps the ring but starts a new CPU baseline, since CPU time restarts
// from zero with it.
func (s *Sampler) record(tg target, st runtime.Stats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.byTask[tg.task]
	if se == nil {
		se = &series{}
		s.byTask[tg.task] = se
	}
	if se.containerID != tg.containerID {
		se.containerID, se.hasPrev = tg.containerID, false
	}
	se.limits = tg.limits
	smp := Sample{Time: st.Time, MemoryBytes: st.MemoryBytes}
	if se.hasPrev && st.CPUNanos >= se.prev.CPUNanos && st.Time.After(se.prev.Time) {
		cores := float64(st.CPUNanos-se.prev.CPUNanos) / float64(st.Time.Sub(se.prev.Time).Nanoseconds())
		smp.CPUCores = &cores
	}
	se.prev, se.hasPrev = st, true
	if len(se.ring) == s.opts.RingSize {
		// Shift rather than wrap: the ring is small and readers want it
		// oldest first.
		copy(se.ring, se.ring[1:])
		se.ring = se.ring[:len(se.ring)-1]
	}
	se.ring = append(se.ring, smp)
}

// Get returns the task's usage: its latest reading and ring. ok is false
// when the task has no readings (not running, or not read yet).
func (s *Sampler) Get(name string) (u TaskUsage, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	se := s.byTask[name]
	if se == nil {
		return TaskUsage{}, false
	}
	return s.usageOf(name, se, true), true
}

// List returns every task with readings, by name; withSamples includes
// each ring, otherwise only the latest reading.
func (s *Sampler) List(withSamples bool) TaskUsageList {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l := TaskUsageList{TypeMeta: typeMeta(KindTaskUsageList), Items: make([]TaskUsage, 0, len(s.byTask))}
	for name, se := range s.byTask {
		l.Items = append(l.Items, s.usageOf(name, se, withSamples))
	}
	sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
	return l
}

// Empty is the usage of a task with no readings, for the endpoint to
// answer with when the task exists.
func (s *Sampler) Empty(name string) TaskUsage {
	return TaskUsage{TypeMeta: typeMeta(KindTaskUsage), Name: name, IntervalSeconds: s.opts.Interval.Seconds(), Samples: []Sample{}}
}

// usageOf copies a series out; the caller holds s.mu.
func (s *Sampler) usageOf(name string, se *series, withSamples bool) TaskUsage {
	u := s.Empty(name)
	u.ContainerID = se.containerID
	u.Limits = se.limits
	if n := len(se.ring); n > 0 {
		cur := se.ring[n-1]
		u.Current = &cur
	}
	if withSamples {
		u.Samples = slices.Clone(se.ring)
	}
	return u
}
