package cli

import (
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

func TestReadManifests_Forms(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		names []string
	}{
		{"one YAML document", "metadata: {name: a}\nspec: {image: i}\n", []string{"a"}},
		{"YAML documents with separators, comments and empties",
			"---\n# first\nmetadata: {name: a}\nspec: {image: i}\n--- # second\nmetadata: {name: b}\nspec: {image: i}\n---\n# nothing\n",
			[]string{"a", "b"}},
		{"JSON object", `{"apiVersion":"cubelet/v1","kind":"Task","metadata":{"name":"a"},"spec":{"image":"i"}}`, []string{"a"}},
		{"JSON TaskList", `{"kind":"TaskList","items":[{"metadata":{"name":"a"},"spec":{"image":"i"}},{"metadata":{"name":"b"},"spec":{"image":"i"}}]}`,
			[]string{"a", "b"}},
		{"YAML List", "kind: List\nitems:\n- metadata: {name: a}\n  spec: {image: i}\n", []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tasks, err := readManifests(strings.NewReader(tc.in), "test")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, task := range tasks {
				got = append(got, task.Name)
			}
			if strings.Join(got, ",") != strings.Join(tc.names, ",") {
				t.Errorf("names = %v, want %v", got, tc.names)
			}
		})
	}
}

func TestReadManifests_RejectsBeforeSending(t *testing.T) {
	for _, tc := range []struct{ name, in, wantErr string }{
		{"unknown field", "metadata: {name: a}\nspec: {image: i, imagee: j}\n", `unknown field "imagee"`},
		{"other kind", "kind: Pod\nmetadata: {name: a}\n", `kind "Pod"`},
		{"bad YAML in the second document", "metadata: {name: a}\n---\nspec: [\n", "document 2"},
		{"not an object", "- a\n- b\n", "not an object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readManifests(strings.NewReader(tc.in), "test")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestApplyable_KeepsOnlyWhatTheUserOwns(t *testing.T) {
	now := metav1.Now()
	stored := &v1.Task{
		ObjectMeta: metav1.ObjectMeta{Name: "a", UID: "u", ResourceVersion: "7", Generation: 3,
			CreationTimestamp: now, DeletionTimestamp: &now, Finalizers: []string{v1.FinalizerContainers},
			Labels: map[string]string{"app": "a"}, Annotations: map[string]string{"note": "x"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}}},
		Spec:   v1.TaskSpec{Image: "i", Args: []string{"x"}},
		Status: v1.TaskStatus{State: v1.Running, ContainerID: "c"},
	}
	got := applyable(stored, false)
	want := &v1.Task{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1.APIVersion, Kind: v1.KindTask},
		ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: stored.Labels, Annotations: stored.Annotations},
		Spec:       stored.Spec,
	}
	if !equalJSON(t, got, want) {
		t.Errorf("applyable = %+v\nwant %+v", got, want)
	}
	if applyable(stored, true).ResourceVersion != "7" {
		t.Error("keepResourceVersion dropped the precondition")
	}
	got.Spec.Args[0] = "changed"
	if stored.Spec.Args[0] != "x" {
		t.Error("applyable shares the spec with its input")
	}
}

// The example in the repository must stay a valid two-task manifest.
func TestExamplesWebYAML_IsTwoValidTasks(t *testing.T) {
	f, err := os.Open("../examples/web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tasks, err := readManifests(f, "examples/web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2 {
		t.Fatalf("%d tasks, want 2", len(tasks))
	}
	for _, task := range tasks {
		v1.SetDefaults(task)
		if errs := v1.ValidateTask(task); len(errs) > 0 {
			t.Errorf("task %s: %v", task.Name, errs.ToAggregate())
		}
	}
}
