//go:build !unix

package store

// lockFile is a no-op where flock is missing: bbolt's own lock on the
// database file still keeps a second process out, after its timeout.
type lockFile struct{}

func acquireLock(string) (*lockFile, error) { return &lockFile{}, nil }

func (l *lockFile) release() error { return nil }
