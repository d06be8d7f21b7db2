package testimage

import (
	"context"
	"github.com/cubelet/cubelet/hack/hostlock"
	"testing"
	"time"
)

// LockHost serialises tests that run cubelet against the Docker host for
// the rest of the test: every cubelet treats all managed containers as its
// own (and removes the ones its store does not know), so two test packages
// running cubelet at once would fight. The lock is a file lock, so it holds
// across the parallel processes of `go test ./...`.
func LockHost(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	unlock, err := hostlock.Acquire(ctx, hostlock.DockerHost())
	if err != nil {
		t.Fatalf("lock the Docker host for this test: %v", err)
	}
	t.Cleanup(unlock)
}
