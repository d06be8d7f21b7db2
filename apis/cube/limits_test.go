package cube

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// A Cube task is stored as a v1 task, its Name and HealthCheck as
// annotations: every string it carries must be bounded before it is
// converted, or one POST stores a megabyte (issue 11: a Name of 1,000,036
// bytes was stored).
func TestToV1_Oversized_Refused(t *testing.T) {
	manyPorts := PortSet{}
	manyBindings := map[string]string{}
	for p := 1; p <= 129; p++ {
		manyPorts[strconv.Itoa(p)+"/tcp"] = struct{}{}
		manyBindings[strconv.Itoa(p)+"/tcp"] = ""
	}
	tests := []struct {
		name   string
		mutate func(*Task)
		field  string // "" means accepted
	}{
		{"name of 253 bytes", func(t *Task) { t.Name = strings.Repeat("n", 253) }, ""},
		{"name of 254 bytes", func(t *Task) { t.Name = strings.Repeat("n", 254) }, "Task.Name"},
		{"name of 1,000,036 bytes", func(t *Task) { t.Name = strings.Repeat("n", 1_000_036) }, "Task.Name"},
		{"image of 1024 bytes", func(t *Task) { t.Image = "a/" + strings.Repeat("b", 1022) }, ""},
		{"image of 1025 bytes", func(t *Task) { t.Image = "a/" + strings.Repeat("b", 1023) }, "Task.Image"},
		{"health check of 2048 bytes", func(t *Task) { t.HealthCheck = "/" + strings.Repeat("h", 2047) }, ""},
		{"health check of 2049 bytes", func(t *Task) { t.HealthCheck = "/" + strings.Repeat("h", 2048) }, "Task.HealthCheck"},
		{"restart policy of a megabyte", func(t *Task) { t.RestartPolicy = strings.Repeat("r", 1<<20) }, "Task.RestartPolicy"},
		{"128 exposed ports", func(t *Task) { delete(manyPorts, "129/tcp"); t.ExposedPorts = manyPorts }, ""},
		{"129 exposed ports", func(t *Task) { manyPorts["129/tcp"] = struct{}{}; t.ExposedPorts = manyPorts }, "Task.ExposedPorts"},
		{"129 port bindings", func(t *Task) { t.PortBindings = manyBindings }, "Task.PortBindings"},
		{"port key of a megabyte", func(t *Task) { t.ExposedPorts = PortSet{strings.Repeat("8", 1<<20): {}} }, "Task.ExposedPorts"},
		{"binding key of a megabyte", func(t *Task) { t.PortBindings = map[string]string{strings.Repeat("8", 1<<20): ""} }, "Task.PortBindings"},
		{"binding value of a megabyte", func(t *Task) { t.PortBindings = map[string]string{"80/tcp": strings.Repeat("8", 1<<20)} }, "Task.PortBindings[80/tcp]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := Task{ID: uuid.New(), State: Scheduled, Image: "nginx"}
			tt.mutate(&task)
			got, err := ToV1(task, nil)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("ToV1: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ToV1 accepted it: name %d bytes, annotations %d", len(got.Annotations[AnnotationName]), len(got.Annotations))
			}
			if msg := err.Error(); !strings.HasPrefix(msg, tt.field+":") || len(msg) > 512 {
				t.Errorf("error %.200q (%d bytes): want it to start with %s: and stay short", msg, len(msg), tt.field)
			}
		})
	}
}
