package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

func TestWriteNodeTable(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ready := []metav1.Condition{{Type: v1.NodeReady, Status: metav1.ConditionTrue}}
	nodes := []v1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "a", CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
			Status: v1.NodeStatus{Conditions: ready, Capacity: map[string]resource.Quantity{"cpu": resource.MustParse("4"), "memory": resource.MustParse("8Gi")}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "b", CreationTimestamp: metav1.NewTime(now.Add(-2 * time.Minute))},
			Spec: v1.NodeSpec{Unschedulable: true}},
	}
	cpu, mem := resource.MustParse("500m"), resource.MustParse("64Mi")
	tasks := []v1.Task{
		{Spec: v1.TaskSpec{NodeName: "a", DesiredState: v1.Running, Resources: v1.Resources{CPU: &cpu, Memory: &mem}}},
		{Spec: v1.TaskSpec{NodeName: "a", DesiredState: v1.Running, Resources: v1.Resources{CPU: &cpu}}},
		{Spec: v1.TaskSpec{NodeName: "a", DesiredState: v1.Completed, Resources: v1.Resources{CPU: &cpu}}},
		{Spec: v1.TaskSpec{DesiredState: v1.Running}},
	}
	var b bytes.Buffer
	if err := writeNodeTable(&b, nodes, tasks, now); err != nil {
		t.Fatal(err)
	}
	want := `NAME   STATUS                      TASKS   CPU        MEMORY       AGE
a      Ready                       2       1/4        64Mi/8Gi     60m
b      NotReady,SchedulingDisabled   0       0/<none>   0/<none>     2m
`
	got := b.String()
	lines := strings.Split(got, "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "a") || !strings.Contains(lines[1], "Ready") ||
		!strings.Contains(lines[1], " 2 ") || !strings.Contains(lines[1], "1/4") || !strings.Contains(lines[1], "64Mi/8Gi") ||
		!strings.Contains(lines[2], "NotReady,SchedulingDisabled") || !strings.Contains(lines[2], "0/<none>") {
		t.Errorf("table:\n%s\nroughly want:\n%s", got, want)
	}
}
