package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// maxManifestBytes bounds what apply reads from one file or stdin; the
// server takes at most 1 MiB per task anyway.
const maxManifestBytes = 16 << 20

// readManifests reads the tasks in r: YAML or JSON, one or many YAML
// documents separated by "---", each a Task or a TaskList (or a generic
// List of Tasks, as `kubectl get -o yaml` writes). Fields the Task type does
// not know are an error here, before anything is sent, so a typo never
// half-applies a file. source names r in errors.
func readManifests(r io.Reader, source string) ([]*v1.Task, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", source, err)
	}
	if len(data) > maxManifestBytes {
		return nil, fmt.Errorf("read %s: larger than %d bytes", source, maxManifestBytes)
	}
	var tasks []*v1.Task
	for i, doc := range splitDocuments(data) {
		ts, err := decodeDocument(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, i+1, err)
		}
		tasks = append(tasks, ts...)
	}
	return tasks, nil
}

// splitDocuments splits a YAML stream at its "---" separator lines. JSON
// never contains such a line, so a JSON body comes back whole.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), maxManifestBytes)
	for sc.Scan() {
		line := sc.Text()
		if isSeparator(line) {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	return append(docs, cur.Bytes())
}

// isSeparator matches "---", optionally followed by a space and a comment
// or by trailing blanks.
func isSeparator(line string) bool {
	rest, ok := strings.CutPrefix(line, "---")
	return ok && (strings.TrimSpace(rest) == "" || strings.HasPrefix(rest, " "))
}

// decodeDocument decodes one document into its tasks; an empty document
// (blank, or only comments) holds none.
func decodeDocument(doc []byte) ([]*v1.Task, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	js = bytes.TrimSpace(js)
	if len(js) == 0 || string(js) == "null" {
		return nil, nil
	}
	var head metav1.TypeMeta
	if err := json.Unmarshal(js, &head); err != nil {
		return nil, fmt.Errorf("not an object: %w", err)
	}
	switch head.Kind {
	case v1.KindTaskList, "List":
		var l v1.TaskList
		if err := strictUnmarshal(js, &l); err != nil {
			return nil, fmt.Errorf("decode %s: %w", head.Kind, err)
		}
		tasks := make([]*v1.Task, 0, len(l.Items))
		for i := range l.Items {
			t := &l.Items[i]
			if t.Kind != "" && t.Kind != v1.KindTask {
				return nil, fmt.Errorf("item %d: kind %q, want %s", i, t.Kind, v1.KindTask)
			}
			tasks = append(tasks, t)
		}
		return tasks, nil
	case v1.KindTask, "":
		var t v1.Task
		if err := strictUnmarshal(js, &t); err != nil {
			return nil, fmt.Errorf("decode Task: %w", err)
		}
		return []*v1.Task{&t}, nil
	default:
		return nil, fmt.Errorf("kind %q is not a Task or a TaskList", head.Kind)
	}
}

func strictUnmarshal(js []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	return dec.Decode(out)
}

// applyable returns what a client may send for t: apiVersion, kind,
// metadata.name, labels and annotations, and spec. Everything the server
// owns (status, uid, resourceVersion, generation, timestamps, finalizers,
// managedFields, ...) is dropped, so the output of `get -o yaml` applies
// as a no-op. keepResourceVersion keeps metadata.resourceVersion as an
// optimistic-concurrency precondition (stop uses it; apply must not, or a
// status write between get and apply would make it fail).
func applyable(t *v1.Task, keepResourceVersion bool) *v1.Task {
	out := &v1.Task{
		TypeMeta: metav1.TypeMeta{APIVersion: t.APIVersion, Kind: t.Kind},
		ObjectMeta: metav1.ObjectMeta{
			Name:        t.Name,
			Labels:      t.Labels,
			Annotations: t.Annotations,
		},
		Spec: *t.Spec.DeepCopy(),
	}
	if out.APIVersion == "" {
		out.APIVersion = v1.APIVersion
	}
	if out.Kind == "" {
		out.Kind = v1.KindTask
	}
	if keepResourceVersion {
		out.ResourceVersion = t.ResourceVersion
	}
	return out
}
