package controller

import (
	"strconv"
	"sync"
)

// statusExpectations remembers the resourceVersion of each task's last status
// write. The task informer's cache lags behind that write; a sync that read
// an older copy would compute from a status cubelet already replaced (and,
// say, count a restart twice), so it waits for the cache instead. Kubernetes'
// ReplicaSet controller meets the same lag with its "expectations".
type statusExpectations struct {
	mu      sync.Mutex
	written map[string]int64
}

func newStatusExpectations() *statusExpectations {
	return &statusExpectations{written: map[string]int64{}}
}

func (e *statusExpectations) wrote(name, resourceVersion string) {
	rv, err := strconv.ParseInt(resourceVersion, 10, 64)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.written[name] = rv
}

// satisfied reports whether a cached copy at resourceVersion has caught up
// with cubelet's last status write.
func (e *statusExpectations) satisfied(name, resourceVersion string) bool {
	e.mu.Lock()
	want, ok := e.written[name]
	e.mu.Unlock()
	if !ok {
		return true
	}
	rv, err := strconv.ParseInt(resourceVersion, 10, 64)
	return err != nil || rv >= want
}

func (e *statusExpectations) forget(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.written, name)
}
