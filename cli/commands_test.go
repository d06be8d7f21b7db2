package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

const twoTasks = `apiVersion: cubelet/v1
kind: Task
metadata:
  name: web
  labels: {app: web}
spec:
  image: cubelet-workload:latest
  args: ["--listen", ":8080"]
  ports: [{containerPort: 8080}]
---
apiVersion: cubelet/v1
kind: Task
metadata:
  name: job
spec:
  image: cubelet-workload:latest
  args: ["--exit-after", "1s"]
`

func TestApply_CreatedThenUnchangedThenConfigured(t *testing.T) {
	f, c := newFakeServer(t)
	path := filepath.Join(t.TempDir(), "tasks.yaml")
	if err := os.WriteFile(path, []byte(twoTasks), 0o600); err != nil {
		t.Fatal(err)
	}

	out, err := run(t, c.Server(), "", "apply", "-f", path)
	if err != nil || out != "task/web created\ntask/job created\n" {
		t.Fatalf("first apply: %q, %v", out, err)
	}
	out, err = run(t, c.Server(), "", "apply", "-f", path)
	if err != nil || out != "task/web unchanged\ntask/job unchanged\n" {
		t.Fatalf("second apply: %q, %v", out, err)
	}
	changed := strings.Replace(twoTasks, "--exit-after\", \"1s", "--exit-after\", \"2s", 1)
	out, err = run(t, c.Server(), changed, "apply", "-f", "-")
	if err != nil || out != "task/web unchanged\ntask/job configured\n" {
		t.Fatalf("changed apply from stdin: %q, %v", out, err)
	}
	if g := f.tasks["job"].Generation; g != 2 {
		t.Errorf("job generation = %d, want 2", g)
	}
}

func TestApply_GetOutputYAMLAppliesAsNoOp(t *testing.T) {
	f, c := newFakeServer(t)
	if _, err := run(t, c.Server(), twoTasks, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	// The server fills what it owns; all of it must be stripped again.
	f.tasks["web"].Status = v1.TaskStatus{State: v1.Running, ContainerID: "abc", RestartCount: 2}
	f.tasks["web"].Finalizers = []string{v1.FinalizerContainers}
	gen, rv := f.tasks["web"].Generation, f.tasks["web"].ResourceVersion

	yaml, err := run(t, c.Server(), "", "get", "web", "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"resourceVersion:", "status:", "uid:"} {
		if !strings.Contains(yaml, want) {
			t.Fatalf("get -o yaml lacks %s:\n%s", want, yaml)
		}
	}
	out, err := run(t, c.Server(), yaml, "apply", "-f", "-")
	if err != nil || out != "task/web unchanged\n" {
		t.Fatalf("apply of get -o yaml: %q, %v", out, err)
	}
	if f.tasks["web"].Generation != gen || f.tasks["web"].ResourceVersion != rv {
		t.Errorf("generation/rv %d/%s, want %d/%s", f.tasks["web"].Generation, f.tasks["web"].ResourceVersion, gen, rv)
	}
	sent := f.puts[len(f.puts)-1]
	if sent.ResourceVersion != "" || sent.UID != "" || sent.Generation != 0 || sent.Finalizers != nil ||
		!sent.CreationTimestamp.IsZero() || sent.Status.State != "" {
		t.Errorf("apply sent server-owned fields: %+v", sent)
	}
}

func TestApply_ListFromGetOutputJSON(t *testing.T) {
	_, c := newFakeServer(t)
	if _, err := run(t, c.Server(), twoTasks, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	list, err := run(t, c.Server(), "", "get", "-o", "json")
	if err != nil || !strings.Contains(list, `"kind": "TaskList"`) {
		t.Fatalf("get -o json: %v\n%s", err, list)
	}
	out, err := run(t, c.Server(), list, "apply", "-f", "-")
	if err != nil || strings.Count(out, "unchanged") != 2 {
		t.Fatalf("apply of a TaskList: %q, %v", out, err)
	}
}

func TestApply_ServerRejectionIsANonZeroExitWithItsMessage(t *testing.T) {
	f, c := newFakeServer(t)
	out, err := run(t, c.Server(), "metadata: {name: bad}\nspec: {args: [x]}\n---\nmetadata: {name: good}\nspec: {image: i}\n",
		"apply", "-f", "-")
	if err == nil || !strings.Contains(err.Error(), "1 of 2 tasks failed") ||
		!strings.Contains(err.Error(), "Error from server (Invalid)") || !strings.Contains(err.Error(), "spec.image: Required value") {
		t.Fatalf("err = %v", err)
	}
	if out != "task/good created\n" || f.tasks["good"] == nil {
		t.Errorf("the valid task was held back: %q", out)
	}
	_, err = run(t, c.Server(), "", "apply", "-f", "/nonexistent.yaml")
	if err == nil || !strings.Contains(err.Error(), "open manifest") {
		t.Fatalf("err = %v", err)
	}
}

func TestStop_RetriesOnConflict(t *testing.T) {
	f, c := newFakeServer(t)
	if _, err := run(t, c.Server(), twoTasks, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	f.conflicts = 2
	out, err := run(t, c.Server(), "", "stop", "web")
	if err != nil || out != "task/web stopped\n" {
		t.Fatalf("stop: %q, %v", out, err)
	}
	if got := f.tasks["web"].Spec.DesiredState; got != v1.Completed {
		t.Errorf("desiredState = %q, want Completed", got)
	}
	last := f.puts[len(f.puts)-1]
	if last.ResourceVersion == "" {
		t.Error("stop sent no resourceVersion precondition")
	}
	out, err = run(t, c.Server(), "", "stop", "web")
	if err != nil || !strings.Contains(out, "unchanged") {
		t.Fatalf("second stop: %q, %v", out, err)
	}
}

func TestGetAndDelete_UnknownTaskIsNotFound(t *testing.T) {
	_, c := newFakeServer(t)
	for _, args := range [][]string{{"get", "nosuch"}, {"describe", "nosuch"}, {"delete", "nosuch"}, {"stop", "nosuch"}} {
		_, err := run(t, c.Server(), "", args...)
		if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), `"nosuch" not found`) {
			t.Errorf("%v: err = %v, want NotFound with the server's message", args, err)
		}
	}
}

func TestDelete_WaitReturnsOnceGone(t *testing.T) {
	f, c := newFakeServer(t)
	if _, err := run(t, c.Server(), twoTasks, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, c.Server(), "", "delete", "web", "--wait")
	if err != nil || out != "task/web deleted\n" {
		t.Fatalf("delete: %q, %v", out, err)
	}
	if _, ok := f.tasks["web"]; ok {
		t.Error("task still there")
	}
}

func TestGet_RejectsUnknownOutput(t *testing.T) {
	_, c := newFakeServer(t)
	if _, err := run(t, c.Server(), "", "get", "-o", "xml"); err == nil || !strings.Contains(err.Error(), "--output") {
		t.Fatalf("err = %v", err)
	}
}

func TestAddCommands_CompletionIsAvailable(t *testing.T) {
	_, c := newFakeServer(t)
	if _, err := run(t, c.Server(), twoTasks, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, c.Server(), "", "__complete", "get", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "web\n") || !strings.Contains(out, "job\n") {
		t.Errorf("completion of get = %q, want the task names", out)
	}
}
