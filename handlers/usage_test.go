package handlers

import (
	"context"
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
	"github.com/cubelet/cubelet/runtime/fake"
	"github.com/cubelet/cubelet/store"
	"github.com/cubelet/cubelet/usage"
)

// storeLister lists from a store that exists only once the env started.
type storeLister struct{ st *store.Interface }

func (l storeLister) List(ctx context.Context, sel labels.Selector) (*v1.TaskList, error) {
	return (*l.st).List(ctx, sel)
}

// usageEnv is a test env whose router serves a real sampler over the
// env's own store and a fake engine.
func usageEnv(t *testing.T) (*testEnv, *usage.Sampler, *fake.Runtime) {
	t.Helper()
	var st store.Interface
	engine := fake.New(fake.WithImages("img"))
	sampler := usage.New(storeLister{&st}, engine, usage.Options{Interval: time.Second})
	env := newTestEnv(t, func(s *envSetup) {
		s.cfg.Usage = sampler
		s.wrap = func(in store.Interface) store.Interface { st = in; return in }
	})
	return env, sampler, engine
}

func TestUsage_RunningTask_CurrentAndRing(t *testing.T) {
	env, sampler, engine := usageEnv(t)
	ctx := context.Background()
	env.put(t, "web", `{"spec":{"image":"img","resources":{"memory":"64Mi","cpu":"2"}}}`, http.StatusCreated)
	id, err := engine.CreateContainer(ctx, runtime.ContainerSpec{Name: "web-1", Image: "img"})
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	task := env.stored(t, "web")
	task.Status.State, task.Status.ContainerID = v1.Running, id
	if _, err := env.store.UpdateStatus(ctx, task); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, cpu := range []uint64{0, 1e9} {
		if err := engine.SetStats(id, runtime.Stats{Time: t0.Add(time.Duration(i) * time.Second), CPUNanos: cpu, MemoryBytes: 32 << 20}); err != nil {
			t.Fatal(err)
		}
		if err := sampler.Round(ctx); err != nil {
			t.Fatal(err)
		}
	}

	resp, data := env.request(t, http.MethodGet, "/v1/tasks/web/usage", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("code %d: %s", resp.StatusCode, data)
	}
	u := decodeAs[usage.TaskUsage](t, data)
	if u.Kind != usage.KindTaskUsage || u.Name != "web" || u.ContainerID != id || u.IntervalSeconds != 1 {
		t.Fatalf("usage %+v", u)
	}
	if u.Current == nil || u.Current.CPUCores == nil || *u.Current.CPUCores != 1 || u.Current.MemoryBytes != 32<<20 {
		t.Fatalf("current %+v; want 1 core and 32 MiB", u.Current)
	}
	if len(u.Samples) != 2 || u.Limits.MemoryBytes != 64<<20 || u.Limits.CPUCores != 2 {
		t.Fatalf("samples %d limits %+v; want 2 samples, 64Mi and 2 cores", len(u.Samples), u.Limits)
	}

	resp, data = env.request(t, http.MethodGet, "/v1/usage", "")
	l := decodeAs[usage.TaskUsageList](t, data)
	if resp.StatusCode != http.StatusOK || len(l.Items) != 1 || l.Items[0].Current == nil || len(l.Items[0].Samples) != 0 {
		t.Fatalf("list %d %+v; want web's current reading without its ring", resp.StatusCode, l)
	}
	_, data = env.request(t, http.MethodGet, "/v1/usage?samples=true", "")
	if l := decodeAs[usage.TaskUsageList](t, data); len(l.Items) != 1 || len(l.Items[0].Samples) != 2 {
		t.Fatalf("list with samples %+v; want web's ring of 2", l)
	}
}

func TestUsage_TaskWithoutReadings_EmptyRingWithLimits(t *testing.T) {
	env, _, _ := usageEnv(t)
	env.put(t, "job", `{"spec":{"image":"img","resources":{"memory":"1Gi"}}}`, http.StatusCreated)
	resp, data := env.request(t, http.MethodGet, "/v1/tasks/job/usage", "")
	u := decodeAs[usage.TaskUsage](t, data)
	if resp.StatusCode != http.StatusOK || u.Current != nil || u.Samples == nil || len(u.Samples) != 0 || u.Limits.MemoryBytes != 1<<30 {
		t.Fatalf("code %d usage %s; want 200, no current, samples [] and the 1Gi limit", resp.StatusCode, data)
	}
}

func TestUsage_Errors(t *testing.T) {
	env, _, _ := usageEnv(t)
	resp, data := env.request(t, http.MethodGet, "/v1/tasks/nope/usage", "")
	wantStatus(t, resp, data, http.StatusNotFound, metav1.StatusReasonNotFound)
	resp, data = env.request(t, http.MethodGet, "/v1/usage?samples=maybe", "")
	wantStatus(t, resp, data, http.StatusBadRequest, metav1.StatusReasonBadRequest)
	resp, data = env.request(t, http.MethodPost, "/v1/usage", "{}")
	wantStatus(t, resp, data, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed)

	plain := newTestEnv(t) // no sampler: no routes
	resp, data = plain.request(t, http.MethodGet, "/v1/usage", "")
	wantStatus(t, resp, data, http.StatusNotFound, metav1.StatusReasonNotFound)
}
