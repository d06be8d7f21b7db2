package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/runtime"
)

// Helpers of the reliability tests (crash, event cut, tamper, shutdown,
// security). They never fail the test from a goroutine: the calls that run
// concurrently return errors instead.

// soak reports whether the long variants run (make soak).
func soak() bool {
	v, _ := strconv.ParseBool(os.Getenv("CUBELET_SOAK"))
	return v
}

// scale picks the CI or the soak figure.
func scale(ci, long int) int {
	if soak() {
		return long
	}
	return ci
}

// spawn starts cubelet serve with exactly args (plus --data-dir and JSON
// logs) and does not wait for it; base is the URL the test will use, ""
// for one forwarded to the cubelet's socket (see withSocket, useSocket).
func (e *env) spawn(base string, args ...string) *cubelet {
	e.t.Helper()
	args, socket := e.withSocket(args)
	args = append([]string{"serve", "--data-dir", e.dataDir, "--log-format", "json"}, args...)
	cmd := exec.Command(binary, args...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start cubelet: %v", err)
	}
	c := &cubelet{t: e.t, cmd: cmd, base: base, logs: logs, done: make(chan error, 1)}
	c.useSocket(socket)
	go func() { c.done <- cmd.Wait() }()
	e.t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-c.done:
			case <-time.After(30 * time.Second):
				_ = c.cmd.Process.Kill()
				<-c.done
			}
		}
		if e.t.Failed() {
			e.t.Logf("cubelet logs:\n%s", tail(c.logs.String(), 60))
		}
	})
	return c
}

// waitReadyWith polls /readyz with client until it answers 200.
func (c *cubelet) waitReadyWith(client *http.Client) {
	c.t.Helper()
	eventually(c.t, 60*time.Second, "cubelet ready", func() (bool, string) {
		select {
		case err := <-c.done:
			c.done <- err
			c.t.Fatalf("cubelet exited early: %v\n%s", err, c.logs.String())
		default:
		}
		resp, err := client.Get(c.base + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK, string(body)
	})
}

// quickClient fails fast: chaos tests expect requests to a killed cubelet.
var quickClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
	MaxIdleConnsPerHost: 32,
	TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
}}

// tryPut PUTs task and returns the code, or an error when no answer came
// (cubelet was killed mid-request): the write is then unacknowledged.
func tryPut(base string, task *v1.Task) (int, error) {
	data, err := json.Marshal(task)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest(http.MethodPut, base+"/v1/tasks/"+task.Name, bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := quickClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// list reads every task through the API.
func (c *cubelet) list() []v1.Task {
	c.t.Helper()
	var l v1.TaskList
	if code := c.do(http.MethodGet, "/v1/tasks", nil, &l); code != http.StatusOK {
		c.t.Fatalf("GET /v1/tasks: %d", code)
	}
	return l.Items
}

// managed lists every managed container on the host.
func (e *env) managed() []runtime.Container {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := e.docker.ListContainers(ctx, controller.LabelManaged, "true")
	if err != nil {
		e.t.Fatalf("list managed containers: %v", err)
	}
	return cs
}

// converged reports whether every task is Running at its generation with
// exactly one running managed container, the one its status names, labelled
// with its uid, beside at most one stopped one (the previous attempt, kept
// for logs --previous), and no managed container belongs to no task. The
// string says what is still missing.
func converged(tasks []v1.Task, containers []runtime.Container) (bool, string) {
	per := map[string][]runtime.Container{}
	for _, c := range containers {
		per[c.Labels[controller.LabelTask]] = append(per[c.Labels[controller.LabelTask]], c)
	}
	for _, t := range tasks {
		cs := per[t.Name]
		delete(per, t.Name)
		s := t.Status
		var running []runtime.Container
		for _, c := range cs {
			if c.Running() {
				running = append(running, c)
			}
		}
		switch {
		case s.State != v1.Running || s.Reason != "" || s.ObservedGeneration != t.Generation:
			return false, fmt.Sprintf("%s: state %s reason %s gen %d/%d", t.Name, s.State, s.Reason, s.ObservedGeneration, t.Generation)
		case len(running) != 1 || len(cs) > 2:
			return false, fmt.Sprintf("%s: %d containers, %d running", t.Name, len(cs), len(running))
		case running[0].ID != s.ContainerID:
			return false, fmt.Sprintf("%s: running container %.12s, status names %.12s", t.Name, running[0].ID, s.ContainerID)
		case running[0].Labels[controller.LabelTaskUID] != string(t.UID):
			return false, fmt.Sprintf("%s: container of uid %s, task uid %s", t.Name, running[0].Labels[controller.LabelTaskUID], t.UID)
		}
	}
	for name, cs := range per {
		return false, fmt.Sprintf("orphan: %d containers of task %q that does not exist", len(cs), name)
	}
	return true, ""
}

// waitConverged polls until converged holds for every task in the store.
func (e *env) waitConverged(c *cubelet, timeout time.Duration) []v1.Task {
	e.t.Helper()
	var tasks []v1.Task
	eventually(e.t, timeout, "every task Running with one container, no orphans", func() (bool, string) {
		tasks = c.list()
		return converged(tasks, e.managed())
	})
	return tasks
}

// logLines returns the JSON log lines whose msg is msg.
func logLines(logs, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range bytes.Split([]byte(logs), []byte("\n")) {
		var l map[string]any
		if json.Unmarshal(line, &l) == nil && l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}
