//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lockFile is the holder's claim on a store: an flock on path+".lock"
// with the holder's pid written inside. bbolt locks the database file
// too, but only tells a second process "timeout" after waiting; this lock
// is taken without waiting and names who holds it. The file is never
// removed: unlinking it would let a third process lock a fresh inode while
// the holder still runs.
type lockFile struct {
	f *os.File
}

func acquireLock(storePath string) (*lockFile, error) {
	path := storePath + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Path: storePath, PID: readPID(f)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Whoever held the lock before may have left a longer pid behind.
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write lock file %s: %w", path, err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write lock file %s: %w", path, err)
	}
	return &lockFile{f: f}, nil
}

// readPID reads the holder's pid; 0 when the file does not hold one (the
// holder may be between its flock and its write).
func readPID(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// release drops the lock (closing the descriptor releases the flock).
func (l *lockFile) release() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}
