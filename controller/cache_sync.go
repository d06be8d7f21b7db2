package controller

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
)

// cacheSyncPoll is how often Run looks whether the informers have synced.
// client-go's WaitForCacheSync looks every 100 ms: a cold start of 10,000
// tasks whose caches fill in about 90 ms then waited 100 or 200 ms before
// the first reconcile, a tenth to a fifth of the whole converge and most
// of its spread from run to run (issue 14). A look is two atomic loads.
const cacheSyncPoll = 2 * time.Millisecond

// waitForCacheSync returns true once every informer has synced, false if
// ctx ends first.
func waitForCacheSync(ctx context.Context, synced ...cache.InformerSynced) bool {
	err := wait.PollUntilContextCancel(ctx, cacheSyncPoll, true, func(context.Context) (bool, error) {
		for _, s := range synced {
			if !s() {
				return false, nil
			}
		}
		return true, nil
	})
	return err == nil
}
