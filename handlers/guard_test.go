package handlers

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The attacks of issue 11 as a browser sends them, against the router over
// real loopback HTTP: each is refused before it reaches a handler, stores
// nothing and is counted.
func TestGuard_BrowserRequests_RefusedAndCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics := NewHTTPMetrics(reg)
	e := newTestEnv(t, func(s *envSetup) {
		s.cfg.HTTPMetrics = metrics
		s.cfg.AllowedHosts = []string{"cubelet.internal", "[fd00::1]:5556"}
	})
	event := managerEventJSON("6be4ad4e-1c3a-4a5b-8e1f-2f0c9f3c1a10", cubeTaskID, 1)
	for _, tc := range []struct {
		name, method, path, body string
		header                   []string
		code                     int
		reason                   string
	}{
		// CSRF: a cross-site "simple request" needs no preflight.
		{"text/plain cube post", "POST", "/tasks", event, []string{"Content-Type", "text/plain", "Origin", "http://evil.example"}, 403, refusedOrigin},
		{"text/plain cube post, no origin", "POST", "/tasks", event, []string{"Content-Type", "text/plain"}, 415, refusedContentType},
		{"form v1 put", "PUT", "/v1/tasks/x", taskJSON("nginx", nil), []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, refusedContentType},
		{"no content type", "PUT", "/v1/tasks/x", taskJSON("nginx", nil), []string{"Content-Type", ""}, 415, refusedContentType},
		{"yaml is not accepted", "PUT", "/v1/tasks/x", "spec: {image: nginx}", []string{"Content-Type", "application/yaml"}, 415, refusedContentType},
		{"foreign origin with json", "PUT", "/v1/tasks/x", taskJSON("nginx", nil), []string{"Origin", "http://evil.example"}, 403, refusedOrigin},
		{"null origin", "POST", "/tasks", event, []string{"Origin", "null"}, 403, refusedOrigin},
		{"other port is another origin", "GET", "/v1/tasks", "", []string{"Origin", "http://127.0.0.1:1"}, 403, refusedOrigin},
		{"https is another origin", "GET", "/v1/tasks", "", []string{"Origin", "https://" + strings.TrimPrefix(e.srv.URL, "http://")}, 403, refusedOrigin},
		{"cross-site fetch without origin", "GET", "/v1/tasks", "", []string{"Sec-Fetch-Site", "cross-site"}, 403, refusedOrigin},
		// DNS rebinding: the browser sends the attacker's name as Host.
		{"rebinding get", "GET", "/v1/tasks", "", []string{"Host", "evil.example:5556"}, 403, refusedHost},
		{"rebinding put", "PUT", "/v1/tasks/x", taskJSON("nginx", nil), []string{"Host", "attacker.com"}, 403, refusedHost},
		{"foreign ip", "GET", "/tasks", "", []string{"Host", "10.0.0.1"}, 403, refusedHost},
		{"localhost suffix", "GET", "/v1/tasks", "", []string{"Host", "localhost.evil.example"}, 403, refusedHost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := counterValue(t, metrics.refused.WithLabelValues(tc.reason))
			resp, data := e.request(t, tc.method, tc.path, tc.body, tc.header...)
			if isCubePath(tc.path) {
				if resp.StatusCode != tc.code || !strings.Contains(string(data), `"HTTPStatusCode":`) {
					t.Fatalf("code %d body %s; want %d in Cube's error shape", resp.StatusCode, data, tc.code)
				}
			} else {
				reason := metav1.StatusReasonForbidden
				if tc.code == 415 {
					reason = metav1.StatusReasonUnsupportedMediaType
				}
				wantStatus(t, resp, data, tc.code, reason)
			}
			if got := counterValue(t, metrics.refused.WithLabelValues(tc.reason)); got != before+1 {
				t.Errorf("cubelet_http_refused_total{reason=%q} = %v, want %v", tc.reason, got, before+1)
			}
		})
	}
	list, err := e.store.List(t.Context(), labels.Everything())
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Fatalf("refused requests stored %d tasks", len(list.Items))
	}
}

// What must keep working: the cubelet client, curl, Cube's manager (which
// posts application/json and deletes with no body and no Origin), a
// same-origin page, and the hosts the operator named.
func TestGuard_LegitimateRequests_PassUntouched(t *testing.T) {
	e := newTestEnv(t, func(s *envSetup) {
		s.cfg.AllowedHosts = []string{"cubelet.internal", "[fd00::1]:5556"}
		s.cfg.ListenHost = "node1.example"
	})
	self := strings.TrimPrefix(e.srv.URL, "http://")
	for _, tc := range []struct {
		name, method, path, body string
		header                   []string
		code                     int
	}{
		{"cube manager post", "POST", "/tasks", managerEventJSON("6be4ad4e-1c3a-4a5b-8e1f-2f0c9f3c1a10", cubeTaskID, 1), nil, 201},
		{"cube manager get", "GET", "/tasks", "", nil, 200},
		{"cube manager delete, no body", "DELETE", "/tasks/" + cubeTaskID, "", nil, 204},
		{"json with charset", "PUT", "/v1/tasks/a", taskJSON("nginx", nil), []string{"Content-Type", "application/json; charset=utf-8"}, 201},
		{"localhost", "GET", "/v1/tasks", "", []string{"Host", "localhost:5556"}, 200},
		{"loopback v4", "GET", "/v1/tasks", "", []string{"Host", "127.1.2.3"}, 200},
		{"loopback v6", "GET", "/v1/tasks", "", []string{"Host", "[::1]:5556"}, 200},
		{"allowed name", "GET", "/v1/tasks", "", []string{"Host", "CUBELET.internal:5556"}, 200},
		{"allowed ip", "GET", "/v1/tasks", "", []string{"Host", "[fd00::1]:80"}, 200},
		{"listen name", "GET", "/v1/tasks", "", []string{"Host", "node1.example:5556"}, 200},
		{"same origin page", "PUT", "/v1/tasks/b", taskJSON("nginx", nil), []string{"Origin", "http://" + self, "Sec-Fetch-Site", "same-origin"}, 201},
		{"probe", "GET", "/healthz", "", nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, data := e.request(t, tc.method, tc.path, tc.body, tc.header...)
			if resp.StatusCode != tc.code {
				t.Fatalf("code %d, want %d: %s", resp.StatusCode, tc.code, data)
			}
		})
	}
}

func TestGuard_WrongToken_CountedAsToken(t *testing.T) {
	metrics := NewHTTPMetrics(nil)
	e := newTestEnv(t, func(s *envSetup) {
		s.cfg.HTTPMetrics = metrics
		s.cfg.Token = strings.Repeat("t", 32)
	})
	e.token = "wrong"
	resp, data := e.request(t, http.MethodGet, "/v1/tasks", "")
	wantStatus(t, resp, data, http.StatusUnauthorized, metav1.StatusReasonUnauthorized)
	if got := counterValue(t, metrics.refused.WithLabelValues(refusedToken)); got != 1 {
		t.Errorf("token refusals counted %v, want 1", got)
	}
}

func TestRouter_CubeOnly_ServesCubeRoutesAndHealthzOnly(t *testing.T) {
	e := newTestEnv(t, func(s *envSetup) {
		s.cfg.CubeOnly = true
		s.cfg.Metrics = http.NotFoundHandler()
	})
	for path, want := range map[string]int{
		"/tasks": 200, "/stats": 200, "/healthz": 200,
		"/v1/tasks": 404, "/metrics": 404,
	} {
		if resp, data := e.request(t, http.MethodGet, path, ""); resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d: %s", path, resp.StatusCode, want, data)
		}
	}
	e.postEvent(t, managerEventJSON("6be4ad4e-1c3a-4a5b-8e1f-2f0c9f3c1a10", cubeTaskID, 1), http.StatusCreated)
	if resp, data := e.request(t, http.MethodPut, "/v1/tasks/x", taskJSON("nginx", nil)); resp.StatusCode != 404 {
		t.Errorf("PUT /v1/tasks/x on the Cube listener = %d: %s", resp.StatusCode, data)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
