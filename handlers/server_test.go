package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// testLimits are DefaultServerLimits scaled down so the tests take
// seconds; bound is how late a cut may come (timer and scheduling slack
// under -race on a busy machine).
var testLimits = ServerLimits{
	ReadHeaderTimeout: 300 * time.Millisecond,
	ReadTimeout:       600 * time.Millisecond,
	WriteTimeout:      600 * time.Millisecond,
	IdleTimeout:       400 * time.Millisecond,
}

const bound = 3 * time.Second

func limitedEnv(t *testing.T, opts ...envOption) *testEnv {
	return newTestEnv(t, append([]envOption{func(s *envSetup) { l := testLimits; s.limits = &l }}, opts...)...)
}

// dribble opens a raw connection, writes head at once, then one byte of
// rest every interval, as a slow-loris client does. It returns how long
// after the first byte the server closed the connection, and what the
// server sent.
func dribble(t *testing.T, e *testEnv, head, rest string, interval time.Duration) (time.Duration, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; i < len(rest); i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte{rest[i]}); err != nil {
				return // the server closed it: what the test waits for
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after 10s; server sent %q", got)
	}
	return time.Since(start), string(got)
}

func TestServer_SlowLorisHeader_CutAfterReadHeaderTimeout(t *testing.T) {
	e := limitedEnv(t)
	// A header that would take 40 × 100 ms = 4 s to send.
	took, _ := dribble(t, e, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n", strings.Repeat("X", 38)+"\r\n", 100*time.Millisecond)
	if took > testLimits.ReadHeaderTimeout+bound/2 {
		t.Fatalf("slow header held the connection %v; ReadHeaderTimeout is %v", took, testLimits.ReadHeaderTimeout)
	}
	t.Logf("slow header cut after %v", took)
}

func TestServer_SlowLorisBody_CutAfterReadTimeoutAndStoresNothing(t *testing.T) {
	e := limitedEnv(t)
	body := taskJSON("nginx", nil) // ~30 bytes at 100 ms each: 3 s
	head := fmt.Sprintf("PUT /v1/tasks/slow HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	took, got := dribble(t, e, head, body, 100*time.Millisecond)
	if took > testLimits.ReadTimeout+bound/2 {
		t.Fatalf("slow body held the connection %v; ReadTimeout is %v", took, testLimits.ReadTimeout)
	}
	if strings.HasPrefix(got, "HTTP/1.1 201") {
		t.Fatalf("slow body was stored: %q", got)
	}
	if _, err := e.store.Get(context.Background(), "slow"); err == nil {
		t.Fatal("the task of a cut body exists")
	}
	t.Logf("slow body cut after %v with %q", took, firstLine(got))
}

func TestServer_IdleKeepAlive_ClosedAfterIdleTimeout(t *testing.T) {
	e := limitedEnv(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	idleFrom := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read %v, want EOF (closed by the server)", err)
	}
	if took := time.Since(idleFrom); took > testLimits.IdleTimeout+bound/2 {
		t.Fatalf("idle keep-alive held %v; IdleTimeout is %v", took, testLimits.IdleTimeout)
	}
}

// A watch lasts past every ordinary deadline: events written after
// WriteTimeout and ReadTimeout still reach the client.
func TestServer_Watch_OutlivesReadAndWriteTimeouts(t *testing.T) {
	e := limitedEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	resp := e.open(t, ctx, http.MethodGet, "/v1/tasks?watch=true&resourceVersion=0", "")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("watch: %d", resp.StatusCode)
	}
	lines := bufio.NewScanner(resp.Body)
	// Outlast both deadlines the server set when the request arrived; the
	// passing of time is what is under test.
	time.Sleep(2 * max(testLimits.ReadTimeout, testLimits.WriteTimeout))
	e.put(t, "late", taskJSON("nginx", nil), http.StatusCreated)
	if !lines.Scan() {
		t.Fatalf("watch ended before the late event: %v", lines.Err())
	}
	var ev struct {
		Type   string
		Object struct{ Metadata struct{ Name string } }
	}
	if err := json.Unmarshal(lines.Bytes(), &ev); err != nil || ev.Type != "ADDED" || ev.Object.Metadata.Name != "late" {
		t.Fatalf("event %s (%v), want ADDED late", lines.Bytes(), err)
	}
}

func TestServer_LogFollow_OutlivesReadAndWriteTimeouts(t *testing.T) {
	logs := newPipeLogs()
	e := limitedEnv(t, func(s *envSetup) { s.cfg.Logs = logs })
	e.put(t, "web", taskJSON("nginx", nil), http.StatusCreated)
	e.withContainer(t, "web", "c0ffee")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	resp := e.open(t, ctx, http.MethodGet, "/v1/tasks/web/logs?follow=true", "")
	defer resp.Body.Close()
	_, _, w := logs.request()
	time.Sleep(2 * max(testLimits.ReadTimeout, testLimits.WriteTimeout))
	go func() { _, _ = io.WriteString(w, "late line\n") }()
	got, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || got != "late line\n" {
		t.Fatalf("read %q, %v; want the line written after the deadlines", got, err)
	}
	_ = w.Close()
}

// An ordinary request is not a stream: a list with watch=false keeps its
// deadlines (the classification is by parameter, not by path alone).
func TestIsStream(t *testing.T) {
	for target, want := range map[string]bool{
		"/v1/tasks?watch=true":             true,
		"/v1/tasks?watch=1":                true,
		"/v1/tasks?watch=false":            false,
		"/v1/tasks?watch=maybe":            false,
		"/v1/tasks":                        false,
		"/v1/tasks/web/logs?follow=true":   true,
		"/v1/tasks/web/logs":               false,
		"/v1/tasks/web/logs?follow=0":      false,
		"/tasks?watch=true":                false,
		"/v1/tasks/web?watch=true":         false,
		"/v1/tasks/web/logs/x?follow=true": false,
		BackupPath:                         true,
	} {
		r, _ := http.NewRequest(http.MethodGet, "http://localhost"+target, nil)
		if got := isStream(r); got != want {
			t.Errorf("isStream(%s) = %v, want %v", target, got, want)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

// A stream whose client stops reading is cut once a write has waited
// WriteTimeout: streams are exempt from the whole-response deadline, not
// from a per-write one.
func TestServer_StreamToAStalledReader_CutAfterAWriteTimesOut(t *testing.T) {
	wrote := make(chan error, 1)
	var lastOK time.Time
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for {
			if _, err := w.Write(chunk); err != nil {
				wrote <- err
				return
			}
			if err := rc.Flush(); err != nil {
				wrote <- err
				return
			}
			lastOK = time.Now()
		}
	})
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = NewServer(stream, testLimits, nil)
	srv.Start()
	defer srv.Close()

	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Ask for a watch, then never read.
	if _, err := io.WriteString(conn, "GET /v1/tasks?watch=true HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-wrote:
		if stalled := time.Since(lastOK); stalled > testLimits.WriteTimeout+bound/2 {
			t.Fatalf("write failed (%v) only after %v stalled; WriteTimeout is %v", err, stalled, testLimits.WriteTimeout)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a stream to a client that reads nothing was still writing after 10s")
	}
}
