package handlers

import (
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestUI_ServesEmbeddedFilesWithoutTokenAndWithCSP(t *testing.T) {
	env := newTestEnv(t, func(s *envSetup) { s.cfg.Token = strings.Repeat("t", 32) })
	env.token = "" // a browser's first load carries no token
	for _, tc := range []struct{ path, contentType, contains string }{
		{"/ui/", "text/html", "<script type=\"module\""},
		{"/ui/js/app.js", "text/javascript", "import"},
		{"/ui/style.css", "text/css", "prefers-color-scheme"},
	} {
		resp, data := env.request(t, http.MethodGet, tc.path, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", tc.path, resp.StatusCode, data)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
			t.Errorf("GET %s: Content-Type %q, want %s", tc.path, ct, tc.contentType)
		}
		if !strings.Contains(string(data), tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: CSP %q", tc.path, csp)
		}
		// An unchanged file is a 304 on revalidation.
		tag := resp.Header.Get("ETag")
		if tag == "" {
			t.Fatalf("GET %s: no ETag", tc.path)
		}
		resp, _ = env.request(t, http.MethodGet, tc.path, "", "If-None-Match", tag)
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", tc.path, resp.StatusCode)
		}
	}
	// The API itself still wants the token.
	resp, data := env.request(t, http.MethodGet, "/v1/tasks", "")
	wantStatus(t, resp, data, http.StatusUnauthorized, metav1.StatusReasonUnauthorized)
}

func TestUI_BrowserGuardStillApplies(t *testing.T) {
	env := newTestEnv(t)
	resp, data := env.request(t, http.MethodGet, "/ui/", "", "Host", "evil.example")
	wantStatus(t, resp, data, http.StatusForbidden, metav1.StatusReasonForbidden)
	resp, data = env.request(t, http.MethodGet, "/ui/js/app.js", "", "Sec-Fetch-Site", "cross-site")
	wantStatus(t, resp, data, http.StatusForbidden, metav1.StatusReasonForbidden)
	resp, data = env.request(t, http.MethodPost, "/ui/", "{}")
	wantStatus(t, resp, data, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed)
}

func TestUI_NoDirectoryListingsOrMissingFiles(t *testing.T) {
	env := newTestEnv(t)
	for _, path := range []string{"/ui/js/", "/ui/nope.js"} {
		resp, data := env.request(t, http.MethodGet, path, "")
		if resp.StatusCode != http.StatusNotFound || strings.Contains(string(data), "app.js") {
			t.Errorf("GET %s: %d %s; want 404 without a listing", path, resp.StatusCode, data)
		}
	}
}

func TestUI_RedirectsBareAndIsAbsentFromTheCubeListener(t *testing.T) {
	env := newTestEnv(t)
	client := env.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Get(env.srv.URL + "/ui")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/ui/" {
		t.Fatalf("GET /ui: %d to %q, want 301 to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}

	cube := newTestEnv(t, func(s *envSetup) { s.cfg.CubeOnly = true })
	resp, _ = cube.request(t, http.MethodGet, "/ui/", "")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("Cube listener GET /ui/: %d, want 404", resp.StatusCode)
	}
}
