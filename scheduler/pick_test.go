package scheduler

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

func node(name string, ready bool, cpu, mem string, labels map[string]string) v1.Node {
	n := v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Status: v1.NodeStatus{Capacity: map[string]resource.Quantity{"cpu": resource.MustParse(cpu), "memory": resource.MustParse(mem)}}}
	st := metav1.ConditionFalse
	if ready {
		st = metav1.ConditionTrue
	}
	n.Status.Conditions = []metav1.Condition{{Type: v1.NodeReady, Status: st}}
	return n
}

func task(name, nodeName, cpu, mem string, hostPort int32) v1.Task {
	t := v1.Task{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.TaskSpec{NodeName: nodeName, DesiredState: v1.Running}}
	if cpu != "" {
		q := resource.MustParse(cpu)
		t.Spec.Resources.CPU = &q
	}
	if mem != "" {
		q := resource.MustParse(mem)
		t.Spec.Resources.Memory = &q
	}
	if hostPort != 0 {
		t.Spec.Ports = []v1.PortMapping{{ContainerPort: 80, HostPort: hostPort}}
	}
	return t
}

func TestPick(t *testing.T) {
	nodes := func() []v1.Node {
		return []v1.Node{
			node("a", true, "2", "2Gi", map[string]string{"disk": "ssd"}),
			node("b", true, "4", "4Gi", nil),
			node("c", false, "64", "64Gi", nil),
		}
	}
	cases := []struct {
		name  string
		bound []v1.Task
		t     v1.Task
		want  string
	}{
		{"least requested wins: b has more free", nil, task("x", "", "1", "1Gi", 0), "b"},
		{"NotReady node never chosen though biggest", []v1.Task{task("y", "b", "4", "", 0)}, task("x", "", "1", "", 0), "a"},
		{"selector narrows to a", nil, func() v1.Task {
			x := task("x", "", "", "", 0)
			x.Spec.NodeSelector = map[string]string{"disk": "ssd"}
			return x
		}(), "a"},
		{"selector matching nothing: unschedulable", nil, func() v1.Task {
			x := task("x", "", "", "", 0)
			x.Spec.NodeSelector = map[string]string{"gpu": "yes"}
			return x
		}(), ""},
		{"too big for every ready node", nil, task("x", "", "8", "", 0), ""},
		{"memory full on b", []v1.Task{task("y", "b", "", "4Gi", 0)}, task("x", "", "", "1Gi", 0), "a"},
		{"host port taken on b", []v1.Task{task("y", "b", "", "", 8080)}, task("x", "", "", "", 8080), "a"},
		{"host port taken everywhere ready", []v1.Task{task("y", "a", "", "", 8080), task("z", "b", "", "", 8080)}, task("x", "", "", "", 8080), ""},
		{"a stopped task frees its port", []v1.Task{func() v1.Task { y := task("y", "b", "", "", 8080); y.Spec.DesiredState = v1.Completed; return y }()}, task("x", "", "1", "", 8080), "b"},
		{"no requests: fewer tasks wins the tie", []v1.Task{task("y", "a", "", "", 0), task("z", "a", "", "", 0)}, task("x", "", "", "", 0), "b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, reasons := pick(&c.t, newLoads(nodes(), pointers(c.bound)))
			if got != c.want {
				t.Errorf("pick = %q (reasons %v), want %q", got, reasons, c.want)
			}
		})
	}
}

func TestPick_UnschedulableNodeSkipped(t *testing.T) {
	ns := []v1.Node{node("a", true, "2", "2Gi", nil), node("b", true, "4", "4Gi", nil)}
	ns[1].Spec.Unschedulable = true
	x := task("x", "", "", "", 0)
	if got, _ := pick(&x, newLoads(ns, nil)); got != "a" {
		t.Errorf("pick = %q, want a (b is cordoned)", got)
	}
}

// Tasks without requests spread evenly, one after another.
func TestPick_Spreads(t *testing.T) {
	ns := []v1.Node{node("a", true, "2", "2Gi", nil), node("b", true, "2", "2Gi", nil), node("c", true, "2", "2Gi", nil)}
	loads := newLoads(ns, nil)
	count := map[string]int{}
	for range 30 {
		x := task("x", "", "", "", 0)
		n, _ := pick(&x, loads)
		x.Spec.NodeName = n
		loads[n].add(&x)
		count[n]++
	}
	if count["a"] != 10 || count["b"] != 10 || count["c"] != 10 {
		t.Errorf("spread %v, want 10 each", count)
	}
}

func pointers(tasks []v1.Task) []*v1.Task {
	out := make([]*v1.Task, len(tasks))
	for i := range tasks {
		out[i] = &tasks[i]
	}
	return out
}
