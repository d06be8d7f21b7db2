// Package hostlock holds cross-process file locks for the test and
// benchmark tools: building the test image, and running cubelet against the
// Docker host (every cubelet treats all managed containers as its own, so
// only one may run there at a time). It is test tooling, not part of cubelet.
package hostlock

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// DockerHost is the lock every test or benchmark that runs cubelet against
// the Docker host holds.
func DockerHost() string {
	return filepath.Join(os.TempDir(), "cubelet-docker-host.lock")
}

// Acquire takes an exclusive flock on path, waiting until ctx ends. Closing
// the returned unlock releases it; so does the process ending.
func Acquire(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	acquired := make(chan error, 1)
	go func() { acquired <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-acquired:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		return func() { f.Close() }, nil
	case <-ctx.Done():
		// Closing the file cannot interrupt a blocked flock; let the waiting
		// goroutine take the lock and release it again when it gets it.
		go func() {
			<-acquired
			f.Close()
		}()
		return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
	}
}
