package v1

import (
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReasonNodeLost is the status reason of a run that ended because the node
// it was bound to was lost (its lease expired and stayed expired past the
// scheduler's node grace) while its restart policy forbids running it again
// elsewhere: it may have run there, so it ends Failed rather than run twice.
// The scheduler writes it (docs/cluster.md, Failover); the task's other
// status reasons are the controller's, which sets them from what its
// containers do.
const ReasonNodeLost = "NodeLost"

// ReasonForCode is the metav1.Status reason cubelet's API pairs with an HTTP
// code, for error bodies that carry none (Cube's error shape, a proxy's
// page). It is apimachinery's mapping plus the codes cubelet also answers
// with (410 Expired, 413 RequestEntityTooLarge).
func ReasonForCode(code int) metav1.StatusReason {
	switch code {
	case http.StatusBadRequest:
		return metav1.StatusReasonBadRequest
	case http.StatusUnauthorized:
		return metav1.StatusReasonUnauthorized
	case http.StatusForbidden:
		return metav1.StatusReasonForbidden
	case http.StatusNotFound:
		return metav1.StatusReasonNotFound
	case http.StatusMethodNotAllowed:
		return metav1.StatusReasonMethodNotAllowed
	case http.StatusConflict:
		return metav1.StatusReasonConflict
	case http.StatusGone:
		return metav1.StatusReasonExpired
	case http.StatusRequestEntityTooLarge:
		return metav1.StatusReasonRequestEntityTooLarge
	case http.StatusUnprocessableEntity:
		return metav1.StatusReasonInvalid
	case http.StatusServiceUnavailable:
		return metav1.StatusReasonServiceUnavailable
	default:
		return metav1.StatusReasonUnknown
	}
}
