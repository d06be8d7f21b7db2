package handlers

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cubelet/cubelet/runtime"
)

// pipeLogs is a LogSource whose output the test writes through a pipe, so
// it can check that each chunk reaches the client before the next exists.
type pipeLogs struct {
	mu     sync.Mutex
	id     string
	opts   runtime.LogOptions
	writer *io.PipeWriter
	opened chan struct{}
}

func newPipeLogs() *pipeLogs { return &pipeLogs{opened: make(chan struct{})} }

func (p *pipeLogs) ContainerLogs(_ context.Context, id string, opts runtime.LogOptions) (io.ReadCloser, error) {
	if id == "missing" {
		return nil, runtime.ErrNotFound
	}
	r, w := io.Pipe()
	p.mu.Lock()
	p.id, p.opts, p.writer = id, opts, w
	p.mu.Unlock()
	close(p.opened)
	return r, nil
}

func (p *pipeLogs) request() (string, runtime.LogOptions, *io.PipeWriter) {
	<-p.opened
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.id, p.opts, p.writer
}

// withContainer records a container for the task, as the controller would.
func (e *testEnv) withContainer(t *testing.T, name, id string) {
	t.Helper()
	ctx := context.Background()
	task, err := e.store.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	task.Status.ContainerID = id
	if _, err := e.store.UpdateStatus(ctx, task); err != nil {
		t.Fatal(err)
	}
}

func TestLogs_BadRequests(t *testing.T) {
	env := newTestEnv(t, func(s *envSetup) { s.cfg.Logs = newPipeLogs() })
	env.put(t, "fresh", taskJSON("nginx", nil), http.StatusCreated)
	env.put(t, "gone", taskJSON("nginx", nil), http.StatusCreated)
	env.withContainer(t, "gone", "missing")
	tests := []struct {
		name, path string
		code       int
		reason     metav1.StatusReason
	}{
		{"no container yet", "/v1/tasks/fresh/logs", http.StatusBadRequest, metav1.StatusReasonBadRequest},
		{"unknown task", "/v1/tasks/nope/logs", http.StatusNotFound, metav1.StatusReasonNotFound},
		{"tail not a number", "/v1/tasks/fresh/logs?tail=ten", http.StatusBadRequest, metav1.StatusReasonBadRequest},
		{"tail below -1", "/v1/tasks/fresh/logs?tail=-2", http.StatusBadRequest, metav1.StatusReasonBadRequest},
		{"follow not a boolean", "/v1/tasks/fresh/logs?follow=yes", http.StatusBadRequest, metav1.StatusReasonBadRequest},
		{"container gone", "/v1/tasks/gone/logs", http.StatusNotFound, metav1.StatusReasonNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := env.request(t, http.MethodGet, tt.path, "")
			st := wantStatus(t, resp, data, tt.code, tt.reason)
			if tt.name == "no container yet" && st.Message != "task fresh has no container yet" {
				t.Errorf("message %q", st.Message)
			}
		})
	}
}

func TestLogs_Follow_StreamsEachChunkAsWritten(t *testing.T) {
	logs := newPipeLogs()
	env := newTestEnv(t, func(s *envSetup) { s.cfg.Logs = logs })
	env.put(t, "web", taskJSON("nginx", nil), http.StatusCreated)
	env.withContainer(t, "web", "c0ffee")

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	resp := env.open(t, ctx, http.MethodGet, "/v1/tasks/web/logs?follow=true&tail=10&timestamps=true", "")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("code %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	id, opts, w := logs.request()
	if id != "c0ffee" || opts != (runtime.LogOptions{Follow: true, Tail: 10, Timestamps: true}) {
		t.Errorf("ContainerLogs(%q, %+v), want c0ffee with follow, tail 10, timestamps", id, opts)
	}
	lines := bufio.NewReader(resp.Body)
	for _, want := range []string{"first line\n", "second line\n"} {
		// The writer blocks until the handler has read the chunk; the
		// client sees it only if the handler flushed it.
		go func() { _, _ = io.WriteString(w, want) }()
		got, err := lines.ReadString('\n')
		if err != nil || got != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	_ = w.Close() // the container's output ends
	if rest, err := io.ReadAll(lines); err != nil || len(rest) != 0 {
		t.Errorf("after the end: %q, %v", rest, err)
	}
}

func TestLogs_ClientGone_ClosesSource(t *testing.T) {
	logs := newPipeLogs()
	env := newTestEnv(t, func(s *envSetup) { s.cfg.Logs = logs })
	env.put(t, "web", taskJSON("nginx", nil), http.StatusCreated)
	env.withContainer(t, "web", "c0ffee")

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	resp := env.open(t, ctx, http.MethodGet, "/v1/tasks/web/logs?follow=1", "")
	defer resp.Body.Close()
	_, _, w := logs.request()
	cancel()
	// The pipe source ignores ctx; only the handler closing the reader
	// ends these writes, with ErrClosedPipe. Writes the handler still
	// reads before it notices the client left succeed.
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := w.Write([]byte("unread\n")); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("write after the client left: %v, want ErrClosedPipe", err)
		}
	case <-time.After(testTimeout):
		_ = w.CloseWithError(errors.New("test timed out"))
		t.Fatal("the log source was not closed after the client went away")
	}
}
