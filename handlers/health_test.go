package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestReadyz_NotReadyThenReady(t *testing.T) {
	var notReady atomic.Pointer[error]
	errNotSynced := errors.New("informers not synced")
	notReady.Store(&errNotSynced)
	env := newTestEnv(t, func(s *envSetup) {
		s.cfg.Ready = func(context.Context) error {
			if p := notReady.Load(); p != nil {
				return *p
			}
			return nil
		}
	})
	resp, data := env.request(t, http.MethodGet, "/readyz", "")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(data), "informers not synced") {
		t.Errorf("not ready: code %d body %q, want 503 with the error", resp.StatusCode, data)
	}
	notReady.Store(nil)
	resp, data = env.request(t, http.MethodGet, "/readyz", "")
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(data)) != "ok" {
		t.Errorf("ready: code %d body %q, want 200 ok", resp.StatusCode, data)
	}
}

func TestMetrics_ServedOnlyWhenConfigured(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("cubelet_up 1\n")) })
	with := newTestEnv(t, func(s *envSetup) { s.cfg.Metrics = metrics })
	if resp, data := with.request(t, http.MethodGet, "/metrics", ""); resp.StatusCode != http.StatusOK || string(data) != "cubelet_up 1\n" {
		t.Errorf("with metrics: code %d body %q", resp.StatusCode, data)
	}
	without := newTestEnv(t)
	resp, data := without.request(t, http.MethodGet, "/metrics", "")
	wantStatus(t, resp, data, http.StatusNotFound, metav1.StatusReasonNotFound)
}

func TestAuth_BearerToken(t *testing.T) {
	const token = "s3cret-token"
	env := newTestEnv(t, func(s *envSetup) {
		s.cfg.Token = token
		s.cfg.Ready = func(context.Context) error { return nil }
	})
	env.token = "" // send headers by hand
	tests := []struct {
		name, path, auth string
		code             int
	}{
		{"healthz without token", "/healthz", "", http.StatusOK},
		{"readyz without token", "/readyz", "", http.StatusOK},
		{"API without token", "/v1/tasks", "", http.StatusUnauthorized},
		{"API with wrong token", "/v1/tasks", "Bearer wrong", http.StatusUnauthorized},
		{"API with token as prefix", "/v1/tasks", "Bearer " + token + "x", http.StatusUnauthorized},
		{"API with basic auth", "/v1/tasks", "Basic " + token, http.StatusUnauthorized},
		{"API with empty bearer", "/v1/tasks", "Bearer ", http.StatusUnauthorized},
		{"unknown route without token", "/nope", "", http.StatusUnauthorized},
		{"API with token", "/v1/tasks", "Bearer " + token, http.StatusOK},
		{"scheme is case-insensitive", "/v1/tasks", "bearer " + token, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.auth != "" {
				hdr = []string{"Authorization", tt.auth}
			}
			resp, data := env.request(t, http.MethodGet, tt.path, "", hdr...)
			if tt.code == http.StatusUnauthorized {
				wantStatus(t, resp, data, tt.code, metav1.StatusReasonUnauthorized)
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				return
			}
			if resp.StatusCode != tt.code {
				t.Errorf("code %d, want %d: %s", resp.StatusCode, tt.code, data)
			}
		})
	}
}

func TestHealthz_OK(t *testing.T) {
	env := newTestEnv(t)
	resp, data := env.request(t, http.MethodGet, "/healthz", "")
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(data)) != "ok" {
		t.Errorf("code %d body %q, want 200 ok", resp.StatusCode, data)
	}
}
