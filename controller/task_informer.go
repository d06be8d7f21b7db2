package controller

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// TaskStore is what the controller needs of the task store.
type TaskStore interface {
	Get(ctx context.Context, name string) (*v1.Task, error)
	List(ctx context.Context, selector labels.Selector) (*v1.TaskList, error)
	Watch(ctx context.Context, resourceVersion string) (watch.Interface, error)
	Update(ctx context.Context, task *v1.Task) (*v1.Task, error)
	UpdateStatus(ctx context.Context, task *v1.Task) (*v1.Task, error)
}

// taskListerWatcher adapts the store to client-go's ListerWatcher.
type taskListerWatcher struct {
	store TaskStore
	base  context.Context
}

var _ cache.ListerWatcherWithContext = (*taskListerWatcher)(nil)

// IsWatchListSemanticsUnSupported opts out of client-go's WatchList mode,
// which the store does not implement (WaitForCacheSync would hang).
func (lw *taskListerWatcher) IsWatchListSemanticsUnSupported() bool { return true }

func (lw *taskListerWatcher) List(options metav1.ListOptions) (k8sruntime.Object, error) {
	return lw.ListWithContext(lw.base, options)
}

func (lw *taskListerWatcher) Watch(options metav1.ListOptions) (watch.Interface, error) {
	return lw.WatchWithContext(lw.base, options)
}

func (lw *taskListerWatcher) ListWithContext(ctx context.Context, _ metav1.ListOptions) (k8sruntime.Object, error) {
	return lw.store.List(ctx, labels.Everything())
}

func (lw *taskListerWatcher) WatchWithContext(ctx context.Context, options metav1.ListOptions) (watch.Interface, error) {
	return lw.store.Watch(ctx, options.ResourceVersion)
}

// NewTaskInformer returns an informer over the store's tasks, resynced
// every resync. The caller runs it.
func NewTaskInformer(store TaskStore, resync time.Duration) cache.SharedIndexInformer {
	lw := &taskListerWatcher{store: store, base: context.Background()}
	return cache.NewSharedIndexInformerWithOptions(lw, &v1.Task{}, cache.SharedIndexInformerOptions{
		ResyncPeriod:      resync,
		ObjectDescription: "tasks",
	})
}
