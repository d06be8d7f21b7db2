package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/handlers"
	"github.com/cubelet/cubelet/store"
)

// benchAPI measures durable PUTs (each one a create: distinct names) from
// cfg.clients loopback clients against the real router over the real store,
// beside two floors measured in the same run on the same disk: bare bbolt
// db.Batch puts of a stored task's bytes from as many goroutines (before and
// after, averaged), and the same clients against an HTTP handler that only
// reads the body and answers. Then it times GET /v1/tasks at cfg.tasks
// tasks.
func benchAPI(ctx context.Context, cfg config, rep *report) error {
	dir := filepath.Join(cfg.workDir, "api")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	payload, err := storedTaskBytes(cfg.image)
	if err != nil {
		return err
	}
	body, err := json.Marshal(map[string]any{"spec": map[string]any{"image": cfg.image, "args": []string{"--listen", ":8080"}}})
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConns: cfg.clients * 2, MaxIdleConnsPerHost: cfg.clients * 2, DisableCompression: true,
	}}

	floorA, err := boltFloor(ctx, filepath.Join(dir, "floor-a.db"), cfg.puts, cfg.clients, payload)
	if err != nil {
		return err
	}

	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(payload)
	}))
	httpRun, err := load(ctx, client, cfg.puts, cfg.clients, func(i int) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodPut, fmt.Sprintf("%s/v1/tasks/t-%06d", empty.URL, i), bytes.NewReader(body))
	}, http.StatusCreated)
	empty.Close()
	if err != nil {
		return fmt.Errorf("empty handler: %w", err)
	}

	st, err := store.OpenDir(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	srv := httptest.NewServer(handlers.NewRouter(handlers.Config{
		Store:  st,
		Ready:  func(context.Context) error { return nil },
		Logger: slog.New(slog.DiscardHandler),
	}))
	defer srv.Close()
	put, err := load(ctx, client, cfg.puts, cfg.clients, func(i int) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, fmt.Sprintf("%s/v1/tasks/t-%06d", srv.URL, i), bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	}, http.StatusCreated)
	if err != nil {
		return fmt.Errorf("PUT: %w", err)
	}

	floorB, err := boltFloor(ctx, filepath.Join(dir, "floor-b.db"), cfg.puts, cfg.clients, payload)
	if err != nil {
		return err
	}
	floorRate := (floorA.rate() + floorB.rate()) / 2
	logf("api: PUT %.0f/s p99 %s; bbolt floor %.0f/s and %.0f/s; empty HTTP %.0f/s",
		put.rate(), ms(put.lat.percentile(99)), floorA.rate(), floorB.rate(), httpRun.rate())

	// The list: top up to cfg.tasks, then read it whole.
	if missing := cfg.tasks - cfg.puts; missing > 0 {
		err := forEach(ctx, missing, 64, func(i int) error {
			t := &v1.Task{Spec: v1.TaskSpec{Image: cfg.image, Args: []string{"--listen", ":8080"}}}
			t.Name = fmt.Sprintf("u-%06d", i)
			t.Finalizers = []string{v1.FinalizerContainers}
			v1.SetDefaults(t)
			t.Status.State = v1.Pending
			_, err := st.Create(ctx, t)
			return err
		})
		if err != nil {
			return err
		}
	}
	var listLat durations
	var size int64
	for range 21 {
		start := time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/tasks", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		size, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET list: %d %v", resp.StatusCode, err)
		}
		listLat = append(listLat, time.Since(start))
	}
	listLat = listLat[1:] // the first warms the connection and the page cache

	ratio := put.rate() / floorRate
	rep.add(row{
		section: "API", name: fmt.Sprintf("durable PUT (create), %d clients", cfg.clients),
		value: fmt.Sprintf("%.0f /s", put.rate()), baseline: fmt.Sprintf("%.0f /s bbolt db.Batch", floorRate),
		result: fmt.Sprintf("%.0f%% of floor", ratio*100), target: "≥ 80%", met: verdict(ratio >= 0.8),
		detail: fmt.Sprintf("%d PUTs; floor runs %.0f/s before and %.0f/s after; empty HTTP handler %.0f/s (p50 %s, p99 %s)",
			cfg.puts, floorA.rate(), floorB.rate(), httpRun.rate(), ms(httpRun.lat.percentile(50)), ms(httpRun.lat.percentile(99))),
	})
	rep.add(row{
		section: "API", name: "durable PUT latency",
		value:    fmt.Sprintf("p50 %s · p99 %s", ms(put.lat.percentile(50)), ms(put.lat.percentile(99))),
		baseline: fmt.Sprintf("p50 %s · p99 %s bbolt db.Batch", ms(floorA.lat.percentile(50)), ms(floorA.lat.percentile(99))),
		result:   ms(put.lat.percentile(99)) + " p99", target: "p99 ≤ 20 ms", met: verdict(put.lat.percentile(99) <= 20*time.Millisecond),
		detail: fmt.Sprintf("empty HTTP handler p50 %s · p99 %s", ms(httpRun.lat.percentile(50)), ms(httpRun.lat.percentile(99))),
	})
	rep.add(row{
		section: "API", name: fmt.Sprintf("GET /v1/tasks at %d tasks", cfg.tasks),
		value: fmt.Sprintf("p50 %s · p99 %s", ms(listLat.percentile(50)), ms(listLat.percentile(99))), baseline: "—",
		result: fmt.Sprintf("%.1f MB", float64(size)/1e6), target: "—", met: "—",
		detail: fmt.Sprintf("%d sequential GETs of the whole list, %.1f MB each", len(listLat), float64(size)/1e6),
	})
	return nil
}

// storedTaskBytes is what the store writes for a new task of the bench's
// shape.
func storedTaskBytes(image string) ([]byte, error) {
	t := &v1.Task{Spec: v1.TaskSpec{Image: image, Args: []string{"--listen", ":8080"}}}
	t.Name = "t-000000"
	t.UID = "6f1c2d4e-0000-4000-8000-000000000000"
	t.Finalizers = []string{v1.FinalizerContainers}
	t.Generation, t.ResourceVersion = 1, "123456"
	t.CreationTimestamp = metav1.Now()
	v1.SetDefaults(t)
	t.Status.State = v1.Pending
	return json.Marshal(t)
}

// loadRun is the outcome of n operations from some concurrent callers.
type loadRun struct {
	n       int
	elapsed time.Duration
	lat     durations
}

func (r loadRun) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

// parallel runs op(0..n-1) from clients goroutines, timing each call.
func parallel(ctx context.Context, n, clients int, op func(i int) error) (loadRun, error) {
	var next atomic.Int64
	lats := make([]durations, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				if err := op(i); err != nil {
					errs[c] = err
					return
				}
				lats[c] = append(lats[c], time.Since(t))
			}
		})
	}
	wg.Wait()
	run := loadRun{n: n, elapsed: time.Since(start)}
	for c := range clients {
		if errs[c] != nil {
			return run, errs[c]
		}
		run.lat = append(run.lat, lats[c]...)
	}
	return run, ctx.Err()
}

// load sends n requests from clients goroutines and expects code for each.
func load(ctx context.Context, client *http.Client, n, clients int, newReq func(i int) (*http.Request, error), code int) (loadRun, error) {
	return parallel(ctx, n, clients, func(i int) error {
		req, err := newReq(i)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != code {
			return fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, bytes.TrimSpace(data))
		}
		return nil
	})
}

// boltFloor puts n distinct keys with payload through bbolt's own db.Batch
// (default batching) from clients goroutines: a durable write with no
// revision, event, encoding or HTTP work.
func boltFloor(ctx context.Context, path string, n, clients int, payload []byte) (loadRun, error) {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return loadRun{}, err
	}
	defer db.Close()
	bucket := []byte("tasks")
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		return loadRun{}, err
	}
	return parallel(ctx, n, clients, func(i int) error {
		key := []byte(fmt.Sprintf("t-%06d", i))
		return db.Batch(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(key, payload) })
	})
}
