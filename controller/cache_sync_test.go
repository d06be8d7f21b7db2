package controller

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitForCacheSync_ReturnsOnceAllSynced(t *testing.T) {
	var first, second atomic.Bool
	done := make(chan bool, 1)
	go func() {
		done <- waitForCacheSync(context.Background(), first.Load, second.Load)
	}()
	first.Store(true)
	select {
	case <-done:
		t.Fatal("returned with one informer not synced")
	case <-time.After(20 * cacheSyncPoll):
	}
	second.Store(true)
	if ok := <-done; !ok {
		t.Fatal("waitForCacheSync = false, want true once both synced")
	}
}

func TestWaitForCacheSync_FalseWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if waitForCacheSync(ctx, func() bool { return false }) {
		t.Fatal("waitForCacheSync = true with a cancelled context and an unsynced informer")
	}
}
