// Package testimage builds cubelet's test workload image (hack/workload in a
// FROM scratch image) into the local Docker daemon for end-to-end tests, by
// running hack/build-test-image.sh. It owns no Docker client: it drives the
// docker CLI through that script, so github.com/docker/docker stays in
// runtime/ alone.
//
// go test runs packages in parallel processes; a file lock makes concurrent
// Ensure calls, from any process, build one at a time, and the script's
// own up-to-date check makes every call after the first cheap.
package testimage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/cubelet/cubelet/hack/hostlock"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"
)

// DefaultTag is the tag the build script uses when given none.
const DefaultTag = "cubelet-workload:latest"

// Ensure makes sure the workload image tagged tag ("" for DefaultTag) is
// built from the current source and present in the local daemon.
func Ensure(ctx context.Context, tag string) error {
	if tag == "" {
		tag = DefaultTag
	}
	script, err := buildScript(ctx)
	if err != nil {
		return err
	}
	unlock, err := hostlock.Acquire(ctx, filepath.Join(os.TempDir(), "cubelet-testimage.lock"))
	if err != nil {
		return err
	}
	defer unlock()

	cmd := exec.CommandContext(ctx, "bash", script, tag)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build test image %s: %w\n%s", tag, err, out.String())
	}
	return nil
}

// Require ensures DefaultTag for a test that needs the Docker daemon, and
// returns the tag. Without a reachable daemon the test fails when CI=true
// (end-to-end tests must never skip silently in CI) and is skipped otherwise.
func Require(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		msg := fmt.Sprintf("docker daemon not reachable: %v: %s", err, strings.TrimSpace(string(out)))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := Ensure(ctx, DefaultTag); err != nil {
		t.Fatal(err)
	}
	return DefaultTag
}

// buildScript finds hack/build-test-image.sh: beside this source file when
// the build kept source paths, else in the module of the working directory.
func buildScript(ctx context.Context) (string, error) {
	const rel = "build-test-image.sh"
	if _, file, _, ok := goruntime.Caller(0); ok {
		p := filepath.Join(filepath.Dir(file), "..", rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("find hack/build-test-image.sh: not inside the cubelet module")
	}
	p := filepath.Join(filepath.Dir(gomod), "hack", rel)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("find hack/build-test-image.sh: %w", err)
	}
	return p, nil
}

// lock takes an exclusive flock on path, waiting for it until ctx ends. The
// lock is per open file, so it excludes goroutines of this process too.
