package v1

import (
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validatePlacement checks spec.nodeName (a node name is a DNS-1123
// subdomain, as Kubernetes') and spec.nodeSelector (label keys and
// values, as metadata.labels).
func validatePlacement(s *TaskSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.NodeName != "" {
		for _, msg := range validation.IsDNS1123Subdomain(s.NodeName) {
			errs = append(errs, field.Invalid(path.Child("nodeName"), s.NodeName, msg))
		}
	}
	errs = append(errs, metav1validation.ValidateLabels(s.NodeSelector, path.Child("nodeSelector"))...)
	return errs
}
