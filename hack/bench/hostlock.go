package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// hostLockPath is the lock hack/testimage.LockHost takes: one cubelet at a
// time may run against the Docker host, across processes.
func hostLockPath() string {
	return filepath.Join(os.TempDir(), "cubelet-docker-host.lock")
}

// lockHost takes the exclusive flock on hostLockPath, waiting until ctx
// ends. LockHost needs a testing.TB, so the few lines are repeated here.
func lockHost(ctx context.Context) (unlock func(), err error) {
	f, err := os.OpenFile(hostLockPath(), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("host lock: %w", err)
	}
	acquired := make(chan error, 1)
	go func() { acquired <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-acquired:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("host lock: %w", err)
		}
		return func() { f.Close() }, nil // closing the file releases the lock
	case <-ctx.Done():
		go func() {
			<-acquired
			f.Close()
		}()
		return nil, fmt.Errorf("host lock: %w", ctx.Err())
	}
}
