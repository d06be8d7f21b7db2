package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/runtime"
)

// dockerRestartReset is how long a container must have run for Docker's
// restart manager to restart it after its shortest delay (100ms) instead of
// a doubled one; cubelet's steady run is --backoff-reset (1s here).
const (
	dockerRestartReset = 10*time.Second + 500*time.Millisecond
	cubeletSteady      = 1500 * time.Millisecond
	pollEvery          = 5 * time.Millisecond
)

// benchReact kills containers from outside and times until they run again:
// `docker rm -f` of a managed container (cubelet must create a new one) and
// SIGKILL of a managed container's process under restartPolicy Always
// (cubelet must start it again). The floors, measured interleaved with
// them: a client that force-removes a container and creates and starts a
// new one itself, and the same SIGKILL of a container Docker restarts with
// its own --restart=always.
//
// Kills rotate over a pool of containers so that each one has run long
// enough before its next kill to restart without back-off, on both sides:
// Docker doubles its restart delay for a container that ran under 10s.
func benchReact(ctx context.Context, h *host, rep *report) error {
	cfg := h.cfg
	pool := min(10, cfg.react)
	c, err := h.startCubelet(ctx, filepath.Join(cfg.workDir, "react-data"))
	if err != nil {
		return err
	}
	defer func() { _ = c.stop() }()

	var crashTasks, rmTasks, floors []string
	for i := range pool {
		crashTasks = append(crashTasks, fmt.Sprintf("crash-%02d", i))
		rmTasks = append(rmTasks, fmt.Sprintf("rm-%02d", i))
		floors = append(floors, fmt.Sprintf("cubelet-bench-floor-%02d", i))
	}
	if _, err := c.converge(ctx, append(append([]string{}, crashTasks...), rmTasks...)); err != nil {
		return err
	}
	for _, name := range floors {
		out, err := exec.CommandContext(ctx, "docker", "run", "-d", "--restart=always", "--label", labelBench+"=floor",
			"--name", name, cfg.image, "--listen", ":8080").CombinedOutput()
		if err != nil {
			return fmt.Errorf("docker run %s: %w: %s", name, err, strings.TrimSpace(string(out)))
		}
	}
	rawName := "cubelet-bench-raw-react"
	rawID, err := h.docker.CreateContainer(ctx, h.rawSpec(rawName, "raw"))
	if err != nil {
		return err
	}
	if err := h.docker.StartContainer(ctx, rawID); err != nil {
		return err
	}

	var rmCube, rmFloor, killCube, killFloor durations
	measure := map[string]func(i int) error{
		"rm cubelet": func(i int) error {
			d, err := h.rmManaged(ctx, rmTasks[i%pool])
			rmCube = append(rmCube, d)
			return err
		},
		"rm floor": func(int) error {
			start := time.Now()
			if err := h.docker.RemoveContainer(ctx, rawID); err != nil {
				return err
			}
			id, err := h.docker.CreateContainer(ctx, h.rawSpec(rawName, "raw"))
			if err != nil {
				return err
			}
			if err := h.docker.StartContainer(ctx, id); err != nil {
				return err
			}
			rmFloor = append(rmFloor, time.Since(start))
			rawID = id
			return nil
		},
		"kill cubelet": func(i int) error {
			ctr, err := h.managedContainer(ctx, crashTasks[i%pool])
			if err != nil {
				return err
			}
			d, err := h.killAndWait(ctx, ctr.ID, nextAttempt(ctr.Name), cubeletSteady)
			killCube = append(killCube, d)
			return err
		},
		"kill floor": func(i int) error {
			d, err := h.killAndWait(ctx, floors[i%pool], floors[i%pool], dockerRestartReset)
			killFloor = append(killFloor, d)
			return err
		},
	}
	order := []string{"kill cubelet", "kill floor", "rm cubelet", "rm floor"}
	for i := range cfg.react {
		// Rotate the order, so neither side always follows the other.
		for j := range order {
			kind := order[(i+j)%len(order)]
			if err := measure[kind](i); err != nil {
				return fmt.Errorf("%s #%d: %w\n%s", kind, i, err, c.logTail())
			}
		}
		if (i+1)%10 == 0 {
			logf("react: %d/%d", i+1, cfg.react)
		}
	}
	// The tasks must have counted every kill as a restart.
	tasks, err := c.list(ctx)
	if err != nil {
		return err
	}
	var restarts int32
	for _, t := range tasks {
		restarts += t.Status.RestartCount
	}
	if want := int32(2 * cfg.react); restarts != want {
		logf("react: tasks report %d restarts, want %d", restarts, want)
	}

	react := func(name string, cube, floor durations, floorName string) {
		d50 := cube.percentile(50) - floor.percentile(50)
		d99 := cube.percentile(99) - floor.percentile(99)
		rep.add(row{
			section: "React", name: name,
			value:    fmt.Sprintf("p50 %s · p90 %s · p99 %s", ms(cube.percentile(50)), ms(cube.percentile(90)), ms(cube.percentile(99))),
			baseline: fmt.Sprintf("p50 %s · p90 %s · p99 %s %s", ms(floor.percentile(50)), ms(floor.percentile(90)), ms(floor.percentile(99)), floorName),
			result:   fmt.Sprintf("%s p50 · %s p99", deltaMs(d50), deltaMs(d99)),
			target:   "≤ +500 ms p50 · ≤ +1 s p99",
			met:      verdict(d50 <= 500*time.Millisecond && d99 <= time.Second),
			detail:   fmt.Sprintf("%d kills each, over %d containers; min %s vs %s", len(cube), pool, ms(cube.percentile(0)), ms(floor.percentile(0))),
		})
	}
	react("`docker rm -f` → new container running", rmCube, rmFloor, "rm -f + create + start")
	react("SIGKILL → running again", killCube, killFloor, "Docker --restart=always")
	return nil
}

// managedContainer returns the managed container of a task.
func (h *host) managedContainer(ctx context.Context, task string) (runtime.Container, error) {
	cs, err := h.docker.ListContainers(ctx, controller.LabelTask, task)
	if err != nil {
		return runtime.Container{}, err
	}
	for _, c := range cs {
		if c.Labels[controller.LabelManaged] == "true" && c.State == runtime.StateRunning {
			return c, nil
		}
	}
	return runtime.Container{}, fmt.Errorf("task %s has no running container", task)
}

// nextAttempt is the name cubelet gives the attempt after the container
// named name: its names end in ".<attempt>" (controller.containerName).
func nextAttempt(name string) string {
	i := strings.LastIndexByte(name, '.')
	n, err := strconv.Atoi(name[i+1:])
	if i < 0 || err != nil {
		return name
	}
	return name[:i+1] + strconv.Itoa(n+1)
}

// rmManaged force-removes the task's container and times until the next
// attempt runs under its (deterministic) name.
func (h *host) rmManaged(ctx context.Context, task string) (time.Duration, error) {
	old, err := h.managedContainer(ctx, task)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := h.docker.RemoveContainer(ctx, old.ID); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = poll(ctx, pollEvery, func() (bool, error) {
		c, err := h.docker.InspectContainer(ctx, nextAttempt(old.Name))
		if errors.Is(err, runtime.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return c.ID != old.ID && c.State == runtime.StateRunning, nil
	})
	if err != nil {
		return 0, fmt.Errorf("wait for %s to be recreated: %w", old.Name, err)
	}
	return time.Since(start), nil
}

// killAndWait waits until the container has run for steady, SIGKILLs its
// main process from the host and times until the container named next runs
// (started after the kill): the same container under Docker's restart
// policy, the next attempt under cubelet's.
func (h *host) killAndWait(ctx context.Context, idOrName, next string, steady time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var old runtime.Container
	err := poll(ctx, 50*time.Millisecond, func() (bool, error) {
		c, err := h.docker.InspectContainer(ctx, idOrName)
		if err != nil {
			return false, err
		}
		old = c
		if c.State != runtime.StateRunning || c.Pid == 0 {
			return false, nil
		}
		if wait := steady - time.Since(c.StartedAt); wait > 0 {
			time.Sleep(wait)
		}
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("wait for %s to run steadily: %w", idOrName, err)
	}
	start := time.Now()
	if err := syscall.Kill(old.Pid, syscall.SIGKILL); err != nil {
		return 0, fmt.Errorf("kill pid %d of %s: %w", old.Pid, idOrName, err)
	}
	err = poll(ctx, pollEvery, func() (bool, error) {
		c, err := h.docker.InspectContainer(ctx, next)
		if errors.Is(err, runtime.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return c.State == runtime.StateRunning && c.StartedAt.After(old.StartedAt), nil
	})
	if err != nil {
		return 0, fmt.Errorf("wait for %s to run again: %w", idOrName, err)
	}
	return time.Since(start), nil
}
