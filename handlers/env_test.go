package handlers

import (
	"context"
	"encoding/json"
	"github.com/prometheus/client_golang/prometheus"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
)

// testTimeout bounds every request a test makes, streams included, so a
// broken stream fails the test instead of hanging it.
const testTimeout = 10 * time.Second

// testEnv is the router served over real loopback HTTP on a real bbolt
// store in a temporary directory.
type testEnv struct {
	srv   *httptest.Server
	store *store.Bolt
	token string
}

// envSetup is what an envOption may change before the server starts.
type envSetup struct {
	cfg   Config
	store store.Options
	// wrap, when set, puts a layer between the router and the store.
	wrap func(store.Interface) store.Interface
	// limits, when set, serves the router with NewServer and these limits
	// instead of httptest's unbounded server.
	limits *ServerLimits
}

// envOption adjusts a testEnv before it starts.
type envOption func(*envSetup)

func newTestEnv(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	var setup envSetup
	for _, o := range opts {
		o(&setup)
	}
	st, err := store.OpenDir(t.TempDir(), setup.store)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cfg := setup.cfg
	// As serve wires it: behind the write-metrics wrapper, so optional
	// capabilities (paging, backup) are found through it.
	cfg.Store = store.WithWriteMetrics(st, prometheus.NewRegistry())
	if setup.wrap != nil {
		cfg.Store = setup.wrap(st)
	}
	srv := httptest.NewUnstartedServer(NewRouter(cfg))
	if setup.limits != nil {
		srv.Config = NewServer(srv.Config.Handler, *setup.limits, nil)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return &testEnv{srv: srv, store: st, token: cfg.Token}
}

// request sends one request and returns the response with its body read.
func (e *testEnv) request(t *testing.T, method, path, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	resp := e.open(t, ctx, method, path, body, header...)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, data
}

// open sends one request and returns the response with its body unread,
// for streams. header is key, value pairs; the env's token is added.
func (e *testEnv) open(t *testing.T, ctx context.Context, method, path, body string, header ...string) *http.Response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	if hasBody(req) {
		req.Header.Set("Content-Type", "application/json") // as every client must; header may override it
	}
	for i := 0; i+1 < len(header); i += 2 {
		if http.CanonicalHeaderKey(header[i]) == "Host" {
			req.Host = header[i+1] // the client sends req.Host, not a Host header
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// put applies a task and fails the test unless the code is want.
func (e *testEnv) put(t *testing.T, name, body string, want int) *v1.Task {
	t.Helper()
	resp, data := e.request(t, http.MethodPut, "/v1/tasks/"+name, body)
	if resp.StatusCode != want {
		t.Fatalf("PUT %s: code %d, want %d: %s", name, resp.StatusCode, want, data)
	}
	return decodeAs[v1.Task](t, data)
}

// get reads a task through the API.
func (e *testEnv) get(t *testing.T, name string) *v1.Task {
	t.Helper()
	resp, data := e.request(t, http.MethodGet, "/v1/tasks/"+name, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: code %d: %s", name, resp.StatusCode, data)
	}
	return decodeAs[v1.Task](t, data)
}

func decodeAs[T any](t *testing.T, data []byte) *T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decoding %T from %q: %v", v, data, err)
	}
	return &v
}

// wantStatus checks that a response is a metav1.Status with code and reason.
func wantStatus(t *testing.T, resp *http.Response, data []byte, code int, reason metav1.StatusReason) *metav1.Status {
	t.Helper()
	if resp.StatusCode != code {
		t.Fatalf("code %d, want %d: %s", resp.StatusCode, code, data)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	st := decodeAs[metav1.Status](t, data)
	if st.Kind != "Status" || st.Status != metav1.StatusFailure || st.Code != int32(code) || st.Reason != reason {
		t.Fatalf("status %+v, want kind Status, Failure, code %d, reason %s", st, code, reason)
	}
	return st
}

// taskJSON is a minimal task body.
func taskJSON(image string, labels map[string]string) string {
	t := map[string]any{"spec": map[string]any{"image": image}}
	if labels != nil {
		t["metadata"] = map[string]any{"labels": labels}
	}
	data, _ := json.Marshal(t)
	return string(data)
}
