package v1

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidatePlacement(t *testing.T) {
	cases := []struct {
		name string
		spec TaskSpec
		bad  string
	}{
		{"empty", TaskSpec{}, ""},
		{"node", TaskSpec{NodeName: "node-1.example"}, ""},
		{"selector", TaskSpec{NodeSelector: map[string]string{"disk": "ssd", "example.com/zone": "a"}}, ""},
		{"upper-case node", TaskSpec{NodeName: "Node1"}, "spec.nodeName"},
		{"bad key", TaskSpec{NodeSelector: map[string]string{"a b": "x"}}, "spec.nodeSelector"},
		{"bad value", TaskSpec{NodeSelector: map[string]string{"a": "x y"}}, "spec.nodeSelector"},
	}
	for _, c := range cases {
		errs := validatePlacement(&c.spec, field.NewPath("spec"))
		if c.bad == "" && len(errs) != 0 {
			t.Errorf("%s: unexpected errors %v", c.name, errs)
		}
		if c.bad != "" && (len(errs) == 0 || errs[0].Field != c.bad) {
			t.Errorf("%s: want an error on %s, got %v", c.name, c.bad, errs)
		}
	}
}
