package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/store"
)

// benchConverge runs the converge and remove measurements in ABBA order
// (raw, cubelet, cubelet, raw) so drift of the daemon over the run weighs on
// both sides alike, and the start-up measurement while the second cubelet
// round has its N containers running.
func benchConverge(ctx context.Context, h *host, rep *report) error {
	cfg := h.cfg
	steps := []string{"raw", "cubelet+startup", "cubelet", "raw"}
	switch {
	case !cfg.runs("converge"):
		steps = []string{"cubelet+startup"}
	case cfg.rounds <= 1:
		steps = []string{"raw", "cubelet+startup"}
	case !cfg.runs("startup"):
		steps = []string{"raw", "cubelet", "cubelet", "raw"}
	}
	dataDir := filepath.Join(cfg.workDir, "converge-data")
	c, err := h.startCubelet(ctx, dataDir)
	if err != nil {
		return err
	}
	defer func() {
		if c != nil {
			_ = c.stop()
		}
	}()

	var rawUp, rawDown, cubeUp, cubeDown durations
	for i, step := range steps {
		switch step {
		case "raw":
			up, down, err := h.rawRound(ctx, i)
			if err != nil {
				return err
			}
			rawUp, rawDown = append(rawUp, up), append(rawDown, down)
			logf("converge raw #%d: create+start %s, remove %s", len(rawUp), secs(up), secs(down))
		default:
			names := make([]string, cfg.n)
			for j := range names {
				names[j] = fmt.Sprintf("conv%d-%03d", i, j)
			}
			up, err := c.converge(ctx, names)
			if err != nil {
				return err
			}
			cubeUp = append(cubeUp, up)
			if step == "cubelet+startup" {
				if c, err = benchStartup(ctx, h, c, rep); err != nil {
					return fmt.Errorf("start-up: %w", err)
				}
			}
			down, err := c.remove(ctx, names)
			if err != nil {
				return err
			}
			cubeDown = append(cubeDown, down)
			logf("converge cubelet #%d: PUT→Running %s, DELETE→gone %s", len(cubeUp), secs(up), secs(down))
		}
	}
	if len(rawUp) == 0 {
		return nil
	}
	runs := func(d durations) string {
		s := ""
		for i, x := range d {
			if i > 0 {
				s += ", "
			}
			s += secs(x)
		}
		return s
	}
	upRatio := float64(cubeUp.mean()) / float64(rawUp.mean())
	downRatio := float64(cubeDown.mean()) / float64(rawDown.mean())
	rep.add(row{
		section: "Converge", name: fmt.Sprintf("%d tasks PUT → all Running", cfg.n),
		value: secs(cubeUp.mean()), baseline: secs(rawUp.mean()) + " raw create+start",
		result: fmt.Sprintf("%.3f×", upRatio), target: "≤ 1.05×", met: verdict(upRatio <= 1.05),
		detail: fmt.Sprintf("runs: cubelet %s; raw %s; %d-way on both sides, cubelet --workers %d; %.1f containers/s raw",
			runs(cubeUp), runs(rawUp), cfg.concurrency, cfg.workers, float64(cfg.n)/rawUp.mean().Seconds()),
	})
	rep.add(row{
		section: "Converge", name: fmt.Sprintf("%d tasks DELETE → all gone", cfg.n),
		value: secs(cubeDown.mean()), baseline: secs(rawDown.mean()) + " raw remove -f",
		result: fmt.Sprintf("%.3f×", downRatio), target: "≤ 1.05×", met: verdict(downRatio <= 1.05),
		detail: fmt.Sprintf("runs: cubelet %s; raw %s", runs(cubeDown), runs(rawDown)),
	})
	return nil
}

// rawRound creates and starts N containers through the Engine API from
// concurrency goroutines, then force-removes them the same way.
func (h *host) rawRound(ctx context.Context, round int) (up, down time.Duration, err error) {
	n := h.cfg.n
	ids := make([]string, n)
	start := time.Now()
	err = forEach(ctx, n, h.cfg.concurrency, func(i int) error {
		id, err := h.docker.CreateContainer(ctx, h.rawSpec(fmt.Sprintf("cubelet-bench-raw%d-%03d", round, i), "raw"))
		if err != nil {
			return err
		}
		ids[i] = id
		return h.docker.StartContainer(ctx, id)
	})
	up = time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("raw create+start: %w", err)
	}
	start = time.Now()
	err = forEach(ctx, n, h.cfg.concurrency, func(i int) error { return h.docker.RemoveContainer(ctx, ids[i]) })
	down = time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("raw remove: %w", err)
	}
	return up, down, nil
}

// converge PUTs the named tasks from concurrency clients and returns the
// time from the first PUT until a GET of the list shows all of them Running.
func (c *cubelet) converge(ctx context.Context, names []string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var putErr atomic.Pointer[error]
	start := time.Now()
	go func() {
		err := forEach(ctx, len(names), c.h.cfg.concurrency, func(i int) error {
			_, err := c.do(ctx, http.MethodPut, "/v1/tasks/"+names[i], c.h.taskBody(names[i]), nil)
			return err
		})
		if err != nil && ctx.Err() == nil {
			putErr.Store(&err)
		}
	}()
	var last int
	err := poll(ctx, 10*time.Millisecond, func() (bool, error) {
		if e := putErr.Load(); e != nil {
			return false, *e
		}
		tasks, err := c.list(ctx)
		if err != nil {
			return false, err
		}
		last = 0
		for _, n := range names {
			if t, ok := tasks[n]; ok && converged(t) {
				last++
			}
		}
		return last == len(names), nil
	})
	if err != nil {
		return 0, fmt.Errorf("converge (%d/%d Running): %w\n%s", last, len(names), err, c.logTail())
	}
	return time.Since(start), nil
}

// remove DELETEs the named tasks from concurrency clients and returns the
// time until a GET of the list shows none of them: the controller has
// removed their containers and released the finalizers.
func (c *cubelet) remove(ctx context.Context, names []string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var delErr atomic.Pointer[error]
	start := time.Now()
	go func() {
		err := forEach(ctx, len(names), c.h.cfg.concurrency, func(i int) error {
			_, err := c.do(ctx, http.MethodDelete, "/v1/tasks/"+names[i], nil, nil)
			return err
		})
		if err != nil && ctx.Err() == nil {
			delErr.Store(&err)
		}
	}()
	var left int
	err := poll(ctx, 10*time.Millisecond, func() (bool, error) {
		if e := delErr.Load(); e != nil {
			return false, *e
		}
		tasks, err := c.list(ctx)
		if err != nil {
			return false, err
		}
		left = 0
		for _, n := range names {
			if _, ok := tasks[n]; ok {
				left++
			}
		}
		return left == 0, nil
	})
	if err != nil {
		return 0, fmt.Errorf("remove (%d left): %w\n%s", left, err, c.logTail())
	}
	d := time.Since(start)
	managed, err := c.h.docker.ListContainers(ctx, controller.LabelManaged, "true")
	if err != nil {
		return 0, err
	}
	if len(managed) != 0 {
		return 0, fmt.Errorf("remove: %d managed containers left after their tasks were gone", len(managed))
	}
	return d, nil
}

// benchStartup measures process start to /readyz with cfg.tasks tasks
// stored, N of them with running containers (those of c, which it stops).
// The other tasks are stopped ones (desiredState Completed), so no
// container has to be made for them; they are written straight into the
// store while cubelet is down, and removed again afterwards by restoring
// the database file. It returns the cubelet it leaves running.
func benchStartup(ctx context.Context, h *host, c *cubelet, rep *report) (*cubelet, error) {
	cfg := h.cfg
	dataDir := c.dataDir
	if err := c.stop(); err != nil {
		return nil, err
	}
	dbPath := filepath.Join(dataDir, store.FileName)
	backup := filepath.Join(cfg.workDir, "startup-backup.db")
	if err := copyFile(dbPath, backup); err != nil {
		return nil, err
	}
	// Ready with only the N running tasks first, for comparison.
	small, err := h.startCubelet(ctx, dataDir)
	if err != nil {
		return nil, err
	}
	readySmall := small.ready
	if err := small.stop(); err != nil {
		return nil, err
	}
	extra := cfg.tasks - cfg.n
	if err := injectStoppedTasks(ctx, dataDir, cfg.image, extra); err != nil {
		return nil, err
	}
	var ready durations
	for range 3 {
		s, err := h.startCubelet(ctx, dataDir)
		if err != nil {
			return nil, err
		}
		ready = append(ready, s.ready)
		if err := s.stop(); err != nil {
			return nil, err
		}
	}
	logf("start-up: ready in %s (%d tasks), %s (%d tasks)", ms(ready.median()), cfg.tasks, ms(readySmall), cfg.n)
	if err := copyFile(backup, dbPath); err != nil {
		return nil, err
	}
	next, err := h.startCubelet(ctx, dataDir)
	if err != nil {
		return nil, err
	}
	rep.add(row{
		section: "Start-up", name: fmt.Sprintf("exec → /readyz, %d tasks stored, %d running", cfg.tasks, cfg.n),
		value: ms(ready.median()), baseline: ms(readySmall) + fmt.Sprintf(" with %d tasks", cfg.n),
		result: ms(ready.median()), target: "≤ 1 s", met: verdict(ready.median() <= time.Second),
		detail: fmt.Sprintf("3 starts: %s, %s, %s (median shown)", ms(ready[0]), ms(ready[1]), ms(ready[2])),
	})
	return next, nil
}

// injectStoppedTasks writes n tasks with desiredState Completed and a
// Completed status into the store in dataDir.
func injectStoppedTasks(ctx context.Context, dataDir, image string, n int) error {
	st, err := store.OpenDir(dataDir, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	now := metav1.Now()
	return forEach(ctx, n, 64, func(i int) error {
		t := &v1.Task{Spec: v1.TaskSpec{Image: image, Args: []string{"--listen", ":8080"}, DesiredState: v1.Completed}}
		t.Name = fmt.Sprintf("idle-%05d", i)
		t.Finalizers = []string{v1.FinalizerContainers}
		v1.SetDefaults(t)
		t.Status = v1.TaskStatus{State: v1.Completed, Reason: controller.ReasonStopped, ObservedGeneration: 1, FinishTime: &now}
		_, err := st.Create(ctx, t)
		return err
	})
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
