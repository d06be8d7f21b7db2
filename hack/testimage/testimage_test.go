package testimage

import (
	"context"
	"os/exec"
	"sync"
	"testing"
	"time"
)

func TestEnsure_ConcurrentCallsAllSucceed(t *testing.T) {
	tag := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = Ensure(ctx, tag) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Ensure #%d: %v", i, err)
		}
	}
	if out, err := exec.CommandContext(ctx, "docker", "image", "inspect", tag).CombinedOutput(); err != nil {
		t.Fatalf("image %s missing after Ensure: %v: %s", tag, err, out)
	}
}
