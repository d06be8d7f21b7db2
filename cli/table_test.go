package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

var now = time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)

func task(name string, state v1.State, created time.Duration, mutate ...func(*v1.Task)) v1.Task {
	t := v1.Task{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(now.Add(-created))},
		Spec: v1.TaskSpec{Image: "cubelet-workload:latest"}, Status: v1.TaskStatus{State: state}}
	for _, m := range mutate {
		m(&t)
	}
	return t
}

func TestPrintTasks_AlignedLikeKubectl(t *testing.T) {
	var out bytes.Buffer
	o := &getOptions{now: func() time.Time { return now }}
	err := o.printTasks(newTablePrinter(&out), []v1.Task{
		task("web", v1.Running, 90*time.Second, func(t *v1.Task) {
			t.Status.RestartCount = 3
			t.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue}}
		}),
		task("a-long-task-name", v1.Pending, 49*time.Hour),
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME               STATE         READY   RESTARTS   AGE\n" +
		"web                Running       1/1     3          90s\n" +
		"a-long-task-name   Pending       0/1     0          2d1h\n"
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestPrintTasks_WideShowsContainerPortsReasonAndNode(t *testing.T) {
	var out bytes.Buffer
	o := &getOptions{output: outputWide, now: func() time.Time { return now }}
	del := metav1.NewTime(now)
	err := o.printTasks(newTablePrinter(&out), []v1.Task{
		task("web", v1.Running, time.Minute, func(t *v1.Task) {
			t.Status.ContainerName = "cubelet-web-abc"
			t.Status.HostPorts = []v1.HostPort{{ContainerPort: 8080, Protocol: v1.ProtocolTCP, HostPort: 32768}}
		}),
		task("crash", v1.Running, time.Minute, func(t *v1.Task) {
			t.Status.ContainerID = "0123456789abcdef0123"
			t.Status.Reason = "CrashLoopBackOff"
			t.Spec.Ports = []v1.PortMapping{{ContainerPort: 53, Protocol: v1.ProtocolUDP}}
			t.Spec.NodeName = "node-2"
		}),
		task("gone", v1.Running, time.Minute, func(t *v1.Task) { t.DeletionTimestamp = &del }),
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	wantFields := [][]string{
		{"NAME", "STATE", "READY", "RESTARTS", "AGE", "IMAGE", "CONTAINER", "PORTS", "REASON", "NODE"},
		{"web", "Running", "0/1", "0", "60s", "cubelet-workload:latest", "cubelet-web-abc", "0.0.0.0:32768->8080/TCP", "<none>", "<none>"},
		{"crash", "Running", "0/1", "0", "60s", "cubelet-workload:latest", "0123456789ab", "53/UDP", "CrashLoopBackOff", "node-2"},
		{"gone", "Terminating", "0/1", "0", "60s", "cubelet-workload:latest", "<none>", "<none>", "<none>", "<none>"},
	}
	if len(lines) != len(wantFields) {
		t.Fatalf("table:\n%s", out.String())
	}
	col := strings.Index(lines[0], "PORTS")
	for i, l := range lines {
		if got := strings.Fields(l); strings.Join(got, "|") != strings.Join(wantFields[i], "|") {
			t.Errorf("line %d = %q, want %v", i, l, wantFields[i])
		}
		if i > 0 && l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("line %d: PORTS not aligned at column %d: %q", i, col, l)
		}
	}
}

func TestTablePrinter_LaterRowsStayAlignedWithTheHeader(t *testing.T) {
	var out bytes.Buffer
	p := newTablePrinter(&out)
	if err := p.print([]string{"NAME", "STATE", "AGE"}, []string{"web", "Pending", "0s"}); err != nil {
		t.Fatal(err)
	}
	if err := p.print([]string{"web", "Terminating", "5s"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	age := strings.Index(lines[0], "AGE")
	for i, l := range lines[1:3] {
		if l[age-1] != ' ' || l[age] == ' ' {
			t.Errorf("row %d not aligned with AGE at %d: %q", i+1, age, l)
		}
	}
}

func TestDescribe_ShowsSpecStatusConditionsTransitions(t *testing.T) {
	exit := int32(0)
	tk := task("web", v1.Running, time.Hour, func(t *v1.Task) {
		t.Labels = map[string]string{"b": "2", "a": "1"}
		t.Spec.Args = []string{"--listen", ":8080"}
		t.Spec.Env = []v1.EnvVar{{Name: "GREETING", Value: "hello"}}
		t.Status.ExitCode = &exit
		t.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Running",
			LastTransitionTime: metav1.NewTime(now.Add(-time.Minute))}}
		t.Status.Transitions = []v1.Transition{
			{From: v1.Pending, To: v1.Scheduled, Reason: "ContainerCreating", Time: metav1.NewTime(now.Add(-2 * time.Minute))},
			{From: v1.Scheduled, To: v1.Running, Time: metav1.NewTime(now.Add(-time.Minute))},
		}
	})
	var out bytes.Buffer
	if err := describe(&out, &tk, now); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"Name:", "web", "Labels:", "a=1, b=2", "Args:", "--listen :8080", "GREETING:", "hello",
		"State:", "Running", "Exit Code:", "Conditions:", "Ready", "True",
		"Transitions:", "Pending", "Scheduled", "ContainerCreating", "2m",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("describe lacks %q:\n%s", want, s)
		}
	}
}
