package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// cubeErrResponse is the error body of Cube's worker API (worker.ErrResponse
// in the book), with the Go field names as keys.
type cubeErrResponse struct {
	HTTPStatusCode int
	Message        string
}

// cubeError is an API error with a code and a message, like the store's,
// so that one renderer serves both and apierrors.IsNotFound and friends
// work on it.
func cubeError(code int, format string, args ...any) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    int32(code),
		Reason:  v1.ReasonForCode(code),
		Message: fmt.Sprintf(format, args...),
	}}
}

// writeCubeError renders err in Cube's shape. An API error (the store's or
// cubeError's) keeps its code; anything else is a 500, logged, since it is
// cubelet's fault and not the caller's.
func writeCubeError(w http.ResponseWriter, logger *slog.Logger, err error) {
	code, msg := http.StatusInternalServerError, err.Error()
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Code != 0 {
		code, msg = int(status.Status().Code), status.Status().Message
	}
	if code >= http.StatusInternalServerError && logger != nil {
		logger.Error("cube API request failed", "code", code, "error", err)
	}
	writeCubeJSON(w, code, cubeErrResponse{HTTPStatusCode: code, Message: msg})
}

// writeCubeJSON writes v as JSON. v is marshalled before the header goes
// out, so a failure is a well-formed 500 and not a truncated success.
func writeCubeJSON(w http.ResponseWriter, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		data, _ = json.Marshal(cubeErrResponse{HTTPStatusCode: code, Message: fmt.Sprintf("encoding response: %v", err)})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(data, '\n'))
}
