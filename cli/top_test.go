package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/usage"
)

func ptr[T any](v T) *T { return &v }

// usageServer answers the usage endpoints with fixed readings, and the
// task list with the tasks labelled app=web for a selector.
func usageServer(t *testing.T) string {
	t.Helper()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	items := []usage.TaskUsage{
		{Name: "web", Limits: usage.Limits{MemoryBytes: 128 << 20}, Current: &usage.Sample{Time: now, CPUCores: ptr(0.25), MemoryBytes: 32 << 20}},
		{Name: "db", Current: &usage.Sample{Time: now, CPUCores: ptr(1.5), MemoryBytes: 512 << 20}},
		{Name: "new", Current: &usage.Sample{Time: now, MemoryBytes: 1 << 20}}, // one reading: no CPU rate yet
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/usage":
			_ = json.NewEncoder(w).Encode(usage.TaskUsageList{Items: items})
		case "/v1/tasks/web/usage":
			_ = json.NewEncoder(w).Encode(items[0])
		case "/v1/tasks":
			if r.URL.Query().Get("labelSelector") != "app=web" {
				t.Errorf("selector %q, want app=web", r.URL.Query().Get("labelSelector"))
			}
			l := v1.TaskList{Items: []v1.Task{{}}}
			l.Items[0].Name = "web"
			_ = json.NewEncoder(w).Encode(l)
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"kind":"Status","code":404,"reason":"NotFound","message":"tasks \"x\" not found"}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestTop_TableLikeKubectlTop(t *testing.T) {
	server := usageServer(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"all by name", []string{"top"}, `
NAME   CPU(cores)   MEMORY(bytes)   %LIMIT
db     1500m        512Mi           -
new    -            1Mi             -
web    250m         32Mi            25%
`},
		{"one task", []string{"top", "web"}, `
NAME   CPU(cores)   MEMORY(bytes)   %LIMIT
web    250m         32Mi            25%
`},
		{"by memory without headers", []string{"top", "--sort-by", "memory", "--no-headers"}, `
db    1500m   512Mi   -
web   250m    32Mi    25%
new   -       1Mi     -
`},
		{"selector", []string{"top", "-l", "app=web"}, `
NAME   CPU(cores)   MEMORY(bytes)   %LIMIT
web    250m         32Mi            25%
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, server, "", tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if out != strings.TrimPrefix(tc.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", out, strings.TrimPrefix(tc.want, "\n"))
			}
		})
	}
}

func TestTop_Errors(t *testing.T) {
	server := usageServer(t)
	if _, err := run(t, server, "", "top", "missing"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("top missing: %v; want not found", err)
	}
	if _, err := run(t, server, "", "top", "--sort-by", "name"); err == nil {
		t.Fatal("--sort-by name accepted")
	}
}
