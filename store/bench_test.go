package store

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// parallelism64 makes b.RunParallel use 64 goroutines.
func parallelism64() int {
	return (64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
}

// BenchmarkCreate_Parallel measures acknowledged (fsynced) creates from
// 64 concurrent writers, which share commits through the writer goroutine.
func BenchmarkCreate_Parallel(b *testing.B) {
	s, _ := openTestStore(b, Options{})
	benchmarkParallelCreates(b, s)
}

// benchmarkParallelCreates times acknowledged creates of distinct tasks
// from 64 concurrent writers on s.
func benchmarkParallelCreates(b *testing.B, s Interface) {
	var n atomic.Int64
	b.SetParallelism(parallelism64())
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			name := fmt.Sprintf("task-%09d", n.Add(1))
			if _, err := s.Create(context.Background(), newTask(name)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBoltBatchFloor is the floor Create is compared with: bare
// bbolt db.Batch puts of a task-sized JSON value from 64 goroutines on the
// same disk, with no revision, events or encoding work.
func BenchmarkBoltBatchFloor(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "floor.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte(tasksBucket))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	x := newTask("task-000000000")
	x.UID = "6f1c2d4e-0000-4000-8000-000000000000"
	x.Generation, x.ResourceVersion = 1, "123456"
	payload, err := json.Marshal(x)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	var n atomic.Int64
	b.SetParallelism(parallelism64())
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := []byte(fmt.Sprintf("task-%09d", n.Add(1)))
			err := db.Batch(func(tx *bolt.Tx) error {
				return tx.Bucket([]byte(tasksBucket)).Put(key, payload)
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
