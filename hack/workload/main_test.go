package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseConfig_FlagsOverrideEnvironment(t *testing.T) {
	env := map[string]string{
		"WORKLOAD_LISTEN":         ":9090",
		"WORKLOAD_EXIT_AFTER":     "2s",
		"WORKLOAD_EXIT_CODE":      "4",
		"WORKLOAD_IGNORE_SIGTERM": "true",
		"WORKLOAD_PRINT":          "from env",
	}
	cfg, err := parseConfig([]string{"--exit-code", "3", "--print", "from flag"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := config{listen: ":9090", exitAfter: 2 * time.Second, exitCode: 3, ignoreSIGTERM: true, print: "from flag"}
	if cfg != want {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
}

func TestParseConfig_RejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"bad flag", []string{"--exit-after", "soon"}, nil},
		{"bad env", nil, map[string]string{"WORKLOAD_ALLOC_MIB": "lots"}},
		{"stray argument", []string{"extra"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestRun_ExitAfter_ReturnsExitCode(t *testing.T) {
	if got := run(config{exitAfter: time.Millisecond, exitCode: 3}, nil); got != 3 {
		t.Fatalf("exit code %d, want 3", got)
	}
}

func TestRun_Signal_ExitsZero(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	sigs <- syscall.SIGTERM
	if got := run(config{}, sigs); got != 0 {
		t.Fatalf("exit code %d, want 0", got)
	}
}

func TestHandler_ServesHelloEnvAndHealth(t *testing.T) {
	srv := httptest.NewServer(handler("box", func() bool { return true }))
	defer srv.Close()
	for path, want := range map[string]string{"/": "hello from box\n", "/healthz": "ok\n", "/env": "PATH="} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s = %d %q, want 200 containing %q", path, resp.StatusCode, body, want)
		}
	}
	resp, err := http.Get(srv.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", resp.StatusCode)
	}
}

func TestHandler_Unhealthy_Healthz500(t *testing.T) {
	srv := httptest.NewServer(handler("box", func() bool { return false }))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("GET /healthz = %d, want 500", resp.StatusCode)
	}
}

func TestProbe_ExitCodes(t *testing.T) {
	dir := t.TempDir()
	present := dir + "/present"
	if err := os.WriteFile(present, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		ok   bool
	}{
		{[]string{"--probe-exit", "0"}, 0, true},
		{[]string{"--probe-exit", "3"}, 3, true},
		{[]string{"--probe-absent", present}, 1, true},
		{[]string{"--probe-absent", dir + "/absent"}, 0, true},
		{[]string{"--listen", ":0"}, 0, false},
	} {
		cfg, err := parseConfig(tc.args, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		if code, ok := probe(cfg); code != tc.code || ok != tc.ok {
			t.Errorf("%v: probe = %d, %v; want %d, %v", tc.args, code, ok, tc.code, tc.ok)
		}
	}
}
