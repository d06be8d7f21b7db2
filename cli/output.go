package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// Output formats of get.
const (
	outputTable = ""
	outputWide  = "wide"
	outputJSON  = "json"
	outputYAML  = "yaml"
	outputName  = "name"
)

func checkOutput(format string) error {
	switch format {
	case outputTable, outputWide, outputJSON, outputYAML, outputName:
		return nil
	default:
		return fmt.Errorf("--output %q: want wide, json, yaml or name", format)
	}
}

// printObject writes a Task or a TaskList as JSON or YAML. In a stream
// (get -w) YAML documents are separated by "---" so the output is still
// one valid YAML stream.
func printObject(w io.Writer, format string, obj any, stream bool) error {
	switch format {
	case outputJSON:
		b, err := json.MarshalIndent(obj, "", "    ")
		if err != nil {
			return fmt.Errorf("encode JSON: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case outputYAML:
		b, err := yaml.Marshal(obj)
		if err != nil {
			return fmt.Errorf("encode YAML: %w", err)
		}
		if stream {
			b = append([]byte("---\n"), b...)
		}
		_, err = w.Write(b)
		return err
	default:
		return fmt.Errorf("no object printer for output %q", format)
	}
}

// withTypeMeta fills apiVersion and kind where the server left them out,
// so printed objects apply as they are.
func withTypeMeta(t *v1.Task) *v1.Task {
	if t.APIVersion == "" {
		t.APIVersion = v1.APIVersion
	}
	if t.Kind == "" {
		t.Kind = v1.KindTask
	}
	return t
}

func listWithTypeMeta(l *v1.TaskList) *v1.TaskList {
	if l.APIVersion == "" {
		l.APIVersion = v1.APIVersion
	}
	if l.Kind == "" {
		l.Kind = v1.KindTaskList
	}
	for i := range l.Items {
		withTypeMeta(&l.Items[i])
	}
	if l.Items == nil {
		l.Items = []v1.Task{}
	}
	return l
}
