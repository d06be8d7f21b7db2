package store

import "time"

// Options tunes a Bolt store. The zero value is ready to use.
type Options struct {
	// WatchWindow is how many events are retained for Watch to replay; a
	// watch from an older resourceVersion fails with 410 Expired.
	// Default 10000.
	WatchWindow int
	// WatchWindowBytes bounds the same window by the size of the stored
	// JSON it retains; the oldest events go first when either bound is
	// reached. Default 64 MiB.
	WatchWindowBytes int64
	// WatchBuffer is how many live events may wait for one watcher beyond
	// its initial events. A watcher that falls further behind has its
	// result channel closed, so writers never wait for readers; the
	// client re-watches from the last resourceVersion it saw. Default 1000.
	WatchBuffer int
	// MaxBatch caps how many writes share one commit. Default 1024.
	MaxBatch int
	// LockTimeout is how long Open waits for bbolt's own lock on the
	// database file. Another cubelet is refused at once by the store's
	// lock file (see lockFile); this wait only matters for a process that
	// opens the file without it, such as a cubelet from before it.
	// Default 1s.
	LockTimeout time.Duration
	// Now is the clock for creation and deletion timestamps. Default
	// time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.WatchWindow <= 0 {
		o.WatchWindow = 10000
	}
	if o.WatchWindowBytes <= 0 {
		o.WatchWindowBytes = 64 << 20
	}
	if o.WatchBuffer <= 0 {
		o.WatchBuffer = 1000
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}
