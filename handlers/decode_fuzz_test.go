package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// FuzzDecodeTask feeds arbitrary bodies through the PUT pipeline short of
// the store: decode, then admit (name check, defaults, validation). It must
// never panic, and must end in an admitted task or a 4xx status; a 5xx
// would mean the server blamed itself for a client's bytes. An admitted
// task must be a fixed point: defaulting again changes nothing, and its
// JSON decodes and admits to the same task.
func FuzzDecodeTask(f *testing.F) {
	f.Add([]byte(`{"spec":{"image":"nginx"}}`)) // more seeds in testdata/fuzz/FuzzDecodeTask
	f.Fuzz(func(t *testing.T, body []byte) {
		task, err := decodeTask(bytes.NewReader(body))
		if err != nil {
			requireClientError(t, err)
			return
		}
		if err := admitTask(task, "fuzz"); err != nil {
			requireClientError(t, err)
			return
		}
		again := task.DeepCopy()
		v1.SetDefaults(again)
		if !equality.Semantic.DeepEqual(again, task) {
			t.Fatalf("defaulting is not idempotent:\n%+v\n%+v", task, again)
		}
		data, err := json.Marshal(task)
		if err != nil {
			t.Fatalf("marshal admitted task: %v", err)
		}
		back, err := decodeTask(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("admitted task does not decode from its own JSON %s: %v", data, err)
		}
		if err := admitTask(back, "fuzz"); err != nil {
			t.Fatalf("admitted task is not admitted again from %s: %v", data, err)
		}
		if !equality.Semantic.DeepEqual(back.Spec, task.Spec) {
			t.Fatalf("spec changed in a JSON round trip:\n%+v\n%+v", task.Spec, back.Spec)
		}
	})
}

func requireClientError(t *testing.T, err error) {
	t.Helper()
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		t.Fatalf("error is not an API status: %T %v", err, err)
	}
	if code := st.Status().Code; code < 400 || code >= 500 {
		t.Fatalf("code %d for a client's body: %v", code, err)
	}
}
