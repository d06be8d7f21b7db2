package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/store"
)

// benchConverge runs the converge and remove measurements in ABBA rounds
// (raw, cubelet, cubelet, raw, each round) so drift of the daemon over the
// run weighs on both sides alike, and the start-up measurement while the
// first cubelet step has its N containers running. Each round gives a
// ratio of its own; the verdict is on the mean of all rounds, and the
// spread of the rounds' ratios is reported beside it.
func benchConverge(ctx context.Context, h *host, rep *report) error {
	cfg := h.cfg
	var steps []string
	var stepRound []int
	switch {
	case !cfg.runs("converge"):
		steps, stepRound = []string{"cubelet+startup"}, []int{0}
	case cfg.rounds <= 1:
		steps, stepRound = []string{"raw", "cubelet+startup"}, []int{0, 0}
	default:
		for r := range cfg.rounds {
			steps = append(steps, "raw", "cubelet", "cubelet", "raw")
			stepRound = append(stepRound, r, r, r, r)
		}
		if cfg.runs("startup") {
			steps[1] = "cubelet+startup"
		}
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
	rounds := make([]struct{ rawUp, rawDown, cubeUp, cubeDown durations }, stepRound[len(stepRound)-1]+1)
	for i, step := range steps {
		rd := &rounds[stepRound[i]]
		switch step {
		case "raw":
			up, down, err := h.rawRound(ctx, i)
			if err != nil {
				return err
			}
			rawUp, rawDown = append(rawUp, up), append(rawDown, down)
			rd.rawUp, rd.rawDown = append(rd.rawUp, up), append(rd.rawDown, down)
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
			rd.cubeUp, rd.cubeDown = append(rd.cubeUp, up), append(rd.cubeDown, down)
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
	// Each round's ratio, and their spread: a verdict whose margin is
	// smaller than the spread is noise, and the reader must see that.
	ratios := func(pick func(i int) (cube, raw durations)) (each []float64, text string) {
		for i := range rounds {
			c, r := pick(i)
			if len(c) == 0 || len(r) == 0 {
				continue
			}
			each = append(each, float64(c.mean())/float64(r.mean()))
		}
		parts := make([]string, len(each))
		for i, x := range each {
			parts[i] = fmt.Sprintf("%.3f×", x)
		}
		return each, strings.Join(parts, ", ")
	}
	spread := func(xs []float64) float64 {
		if len(xs) == 0 {
			return 0
		}
		return slices.Max(xs) - slices.Min(xs)
	}
	upEach, upText := ratios(func(i int) (durations, durations) { return rounds[i].cubeUp, rounds[i].rawUp })
	downEach, downText := ratios(func(i int) (durations, durations) { return rounds[i].cubeDown, rounds[i].rawDown })
	upRatio := float64(cubeUp.mean()) / float64(rawUp.mean())
	downRatio := float64(cubeDown.mean()) / float64(rawDown.mean())
	rep.add(row{
		section: "Converge", name: fmt.Sprintf("%d tasks PUT → all Running", cfg.n),
		value: secs(cubeUp.mean()), baseline: secs(rawUp.mean()) + " raw create+start",
		result: fmt.Sprintf("%.3f× (spread %.3f)", upRatio, spread(upEach)), target: "≤ 1.05× mean", met: verdict(upRatio <= 1.05),
		detail: fmt.Sprintf("%d ABBA rounds, ratio per round %s (spread %.3f); runs: cubelet %s; raw %s; %d-way on both sides, cubelet --workers %d; %.1f containers/s raw",
			len(upEach), upText, spread(upEach), runs(cubeUp), runs(rawUp), cfg.concurrency, cfg.workers, float64(cfg.n)/rawUp.mean().Seconds()),
	})
	rep.add(row{
		section: "Converge", name: fmt.Sprintf("%d tasks DELETE → all gone", cfg.n),
		value: secs(cubeDown.mean()), baseline: secs(rawDown.mean()) + " raw remove -f",
		result: fmt.Sprintf("%.3f× (spread %.3f)", downRatio, spread(downEach)), target: "≤ 1.05× mean", met: verdict(downRatio <= 1.05),
		detail: fmt.Sprintf("%d ABBA rounds, ratio per round %s (spread %.3f); runs: cubelet %s; raw %s",
			len(downEach), downText, spread(downEach), runs(cubeDown), runs(rawDown)),
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
// time from the first PUT until the watch stream shows all of them Running.
// The bench follows a watch rather than polling the list: a list every few
// milliseconds would cost cubelet, on two cores, CPU the raw side does not
// pay.
func (c *cubelet) converge(ctx context.Context, names []string) (time.Duration, error) {
	return c.timeUntil(ctx, names, http.MethodPut, func(tasks map[string]*v1.Task) bool {
		for _, n := range names {
			if t, ok := tasks[n]; !ok || !converged(t) {
				return false
			}
		}
		return true
	})
}

// remove DELETEs the named tasks from concurrency clients and returns the
// time until the watch stream has shown every one of them deleted: the
// controller has removed its container and released the finalizer.
func (c *cubelet) remove(ctx context.Context, names []string) (time.Duration, error) {
	d, err := c.timeUntil(ctx, names, http.MethodDelete, func(tasks map[string]*v1.Task) bool {
		for _, n := range names {
			if _, ok := tasks[n]; ok {
				return false
			}
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	managed, err := c.h.docker.ListContainers(ctx, controller.LabelManaged, "true")
	if err != nil {
		return 0, err
	}
	if len(managed) != 0 {
		return 0, fmt.Errorf("remove: %d managed containers left after their tasks were gone", len(managed))
	}
	return d, nil
}

// timeUntil lists the tasks, watches from the list's resourceVersion, sends
// method for every name from concurrency clients and returns the time from
// the first request until done holds for the tasks as the watch shows them.
func (c *cubelet) timeUntil(ctx context.Context, names []string, method string, done func(map[string]*v1.Task) bool) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var list v1.TaskList
	if _, err := c.do(ctx, http.MethodGet, "/v1/tasks", nil, &list); err != nil {
		return 0, err
	}
	tasks := make(map[string]*v1.Task, len(list.Items))
	for i := range list.Items {
		tasks[list.Items[i].Name] = &list.Items[i]
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/tasks?watch=true&resourceVersion="+list.ResourceVersion, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.h.watchClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("watch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("watch: %d", resp.StatusCode)
	}
	events := make(chan taskEvent, 1024)
	go func() {
		defer close(events)
		dec := json.NewDecoder(resp.Body)
		for {
			var ev taskEvent
			if err := dec.Decode(&ev); err != nil {
				return
			}
			events <- ev
		}
	}()

	reqErr := make(chan error, 1)
	start := time.Now()
	go func() {
		reqErr <- forEach(ctx, len(names), c.h.cfg.concurrency, func(i int) error {
			var body any
			if method == http.MethodPut {
				body = c.h.taskBody(names[i])
			}
			_, err := c.do(ctx, method, "/v1/tasks/"+names[i], body, nil)
			return err
		})
	}()
	for !done(tasks) {
		select {
		case ev, ok := <-events:
			if !ok {
				return 0, fmt.Errorf("watch ended: %v\n%s", ctx.Err(), c.logTail())
			}
			switch ev.Type {
			case "ADDED", "MODIFIED":
				tasks[ev.Object.Name] = &ev.Object
			case "DELETED":
				delete(tasks, ev.Object.Name)
			case "ERROR":
				return 0, fmt.Errorf("watch error event: %s", ev.Object.Name)
			}
		case err := <-reqErr:
			if err != nil {
				return 0, fmt.Errorf("%s: %w", method, err)
			}
			reqErr = nil
		}
	}
	return time.Since(start), nil
}

// taskEvent is one line of the watch stream.
type taskEvent struct {
	Type   string  `json:"type"`
	Object v1.Task `json:"object"`
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
