package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// runningStatus is a status the size the controller writes: a container,
// start time, three conditions and two transitions.
func runningStatus(i int) v1.TaskStatus {
	now := metav1.NewTime(time.Date(2026, 3, 1, 12, 0, i%60, 0, time.UTC))
	conds := []metav1.Condition{}
	for _, typ := range []string{"Ready", "Progressing", "Degraded"} {
		conds = append(conds, metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: "ContainerRunning",
			Message: "the container of generation 1 runs", LastTransitionTime: now, ObservedGeneration: 1})
	}
	return v1.TaskStatus{
		State: v1.Running, ContainerID: fmt.Sprintf("%064d", i), ContainerName: fmt.Sprintf("cubelet-task-%d-1", i),
		StartTime: &now, ObservedGeneration: 1, RestartCount: int32(i % 2), Conditions: conds,
		Transitions: []v1.Transition{{From: v1.Pending, To: v1.Scheduled, Time: now}, {From: v1.Scheduled, To: v1.Running, Time: now}},
	}
}

// BenchmarkUpdateStatusMutation is the writer's CPU per status write
// without the disk: decode of the stored task (as the writer reads it),
// the mutation, and the encode it stores.
func BenchmarkUpdateStatusMutation(b *testing.B) {
	base := newTask("bench")
	base.Spec.Args = []string{"--listen", ":8080"}
	base.Labels = map[string]string{"app": "web"}
	base.Status = runningStatus(0)
	base.ResourceVersion = "1"
	data, _, err := encodeTask(base)
	if err != nil {
		b.Fatal(err)
	}
	in := base.DeepCopy()
	in.ResourceVersion = ""
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		stored, err := decodeTask(data)
		if err != nil {
			b.Fatal(err)
		}
		in.Status = runningStatus(i + 1)
		out, err := updateTaskStatus(in)(stored, int64(i+2), fixedNow)
		if err != nil || out.event == "" {
			b.Fatalf("%v %q", err, out.event)
		}
	}
}

// BenchmarkUpdateStatus_Parallel is acknowledged (fsynced) status writes
// from 64 writers over 1,024 tasks.
func BenchmarkUpdateStatus_Parallel(b *testing.B) {
	s, _ := openTestStore(b, Options{})
	const tasks = 1024
	for i := range tasks {
		mustCreate(b, s, newTask(fmt.Sprintf("task-%04d", i)))
	}
	var n atomic.Int64
	b.SetParallelism(parallelism64())
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			t := newTask(fmt.Sprintf("task-%04d", i%tasks))
			t.Status = runningStatus(i)
			if _, err := s.UpdateStatus(context.Background(), t); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkStatusSplice is the writer's share of a status write made from
// the stored task (as the controller makes them): the splice over the
// stored bytes, with no decode. The encoding it needs is made by the
// caller (newStatusSplice), outside the loop as outside the writer.
func BenchmarkStatusSplice(b *testing.B) {
	base := newTask("bench")
	base.Spec.Args = []string{"--listen", ":8080"}
	base.Labels = map[string]string{"app": "web"}
	base.Status = runningStatus(0)
	base.ResourceVersion = "1"
	data, stored, err := encodeTask(base)
	if err != nil {
		b.Fatal(err)
	}
	splice, err := newStatusSplice(stored, runningStatus(1))
	if err != nil || splice == nil {
		b.Fatal(splice, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		splice.obj.ResourceVersion = "1"
		out, ok := splice.apply(data, int64(i+2))
		if !ok || out.event == "" {
			b.Fatalf("%v %q", ok, out.event)
		}
	}
}

// BenchmarkNormalizedStatus is the status's way to its stored form, made
// in the caller's goroutine for every status write.
func BenchmarkNormalizedStatus(b *testing.B) {
	s := runningStatus(1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := normalizedStatus("bench", &s); err != nil {
			b.Fatal(err)
		}
	}
}
