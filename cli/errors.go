package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// ServerError is a non-2xx answer from cubelet, carrying the server's
// metav1.Status. It implements apimachinery's APIStatus, so callers test it
// with apierrors.IsNotFound, IsConflict and the rest.
type ServerError struct {
	ErrStatus metav1.Status
}

// Error renders the status the way kubectl does, server message first-class.
func (e *ServerError) Error() string {
	reason := string(e.ErrStatus.Reason)
	if reason == "" {
		reason = http.StatusText(int(e.ErrStatus.Code))
	}
	return fmt.Sprintf("Error from server (%s): %s", reason, e.ErrStatus.Message)
}

// Status returns the server's status (apierrors.APIStatus).
func (e *ServerError) Status() metav1.Status { return e.ErrStatus }

// statusError builds the error for a non-2xx answer. cubelet answers with a
// metav1.Status body; anything else (a proxy's HTML page, a plain-text
// probe) is kept as the message so the user still sees what came back.
func statusError(code int, body []byte) error {
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil || st.Kind != "Status" {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 512 {
			msg = msg[:512] + "..."
		}
		if msg == "" {
			msg = http.StatusText(code)
		}
		st = metav1.Status{Status: metav1.StatusFailure, Message: msg}
	}
	if st.Code == 0 {
		st.Code = int32(code)
	}
	if st.Reason == "" {
		st.Reason = v1.ReasonForCode(code)
	}
	return &ServerError{ErrStatus: st}
}
