package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// statusTypeMeta is what Kubernetes writes on every Status body, so generic
// clients (client-go's rest client, kubectl) recognise it.
var statusTypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}

// statusOf turns any error into the metav1.Status it is rendered as: an
// apierrors status error keeps its code, reason and causes; anything else is
// an internal error (500), since a client cannot have caused it.
func statusOf(err error) metav1.Status {
	var s apierrors.APIStatus
	if !errors.As(err, &s) {
		s = apierrors.NewInternalError(err)
	}
	st := s.Status()
	st.TypeMeta = statusTypeMeta
	st.Status = metav1.StatusFailure
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	return st
}

// writeStatus renders err as a metav1.Status body with its HTTP code.
func writeStatus(w http.ResponseWriter, err error) {
	st := statusOf(err)
	writeJSON(w, int(st.Code), &st)
}

// writeJSON writes obj as JSON with the given code. obj is marshalled
// before the header goes out, so a marshalling failure still becomes a
// well-formed 500 rather than a truncated 200.
func writeJSON(w http.ResponseWriter, code int, obj any) {
	data, err := json.Marshal(obj)
	if err != nil {
		st := apierrors.NewInternalError(fmt.Errorf("encoding response: %w", err)).Status()
		st.TypeMeta = statusTypeMeta
		code = http.StatusInternalServerError
		data, _ = json.Marshal(&st) // a Status always marshals
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(data, '\n'))
}

// routeNotFound answers requests no route matches.
func routeNotFound(w http.ResponseWriter, r *http.Request) {
	writeStatus(w, &apierrors.StatusError{ErrStatus: metav1.Status{
		Code:    http.StatusNotFound,
		Reason:  metav1.StatusReasonNotFound,
		Message: fmt.Sprintf("the server could not find the requested resource %s", r.URL.Path),
	}})
}

// methodNotAllowed answers requests whose path matches a route but whose
// method does not.
func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeStatus(w, &apierrors.StatusError{ErrStatus: metav1.Status{
		Code:    http.StatusMethodNotAllowed,
		Reason:  metav1.StatusReasonMethodNotAllowed,
		Message: fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path),
	}})
}
