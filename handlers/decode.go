package handlers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// maxBodyBytes bounds a request body; larger bodies get 413.
const maxBodyBytes = 1 << 20

// taskGroupKind names tasks in Invalid errors ("Task.cubelet \"x\" is invalid").
var taskGroupKind = schema.GroupKind{Group: v1.SchemeGroupVersion.Group, Kind: v1.KindTask}

// decodeTask reads exactly one JSON Task from r, the way the Kubernetes API
// server reads a body: with sigs.k8s.io/json, whose keys match field names
// case-sensitively ("Spec" is not "spec"), and strictly, so unknown and
// duplicate fields are 400 BadRequest rather than silently dropped or
// overwritten. Wrong types and anything after the object are 400 too; a body
// cut off by http.MaxBytesReader is 413. Every error it returns is an
// apierrors status error, so the caller renders it as is.
func decodeTask(r io.Reader) (*v1.Task, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, decodeError(err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, decodeError(io.EOF)
	}
	if errs := v1.CheckQuantitySpellings(data); len(errs) > 0 {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("decoding task: %v", errs.ToAggregate()))
	}
	var t v1.Task
	strict, err := kjson.UnmarshalStrict(data, &t, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return nil, decodeError(err)
	}
	if len(strict) > 0 {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("decoding task: %v", errors.Join(strict...)))
	}
	return &t, nil
}

func decodeError(err error) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d bytes", tooLarge.Limit))
	case errors.Is(err, io.EOF):
		return apierrors.NewBadRequest("request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apierrors.NewBadRequest("request body is truncated JSON")
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("decoding task: %v", err))
	}
}

// admitTask turns a decoded body into the task to store under name: the
// name in the body must agree with the path, status is dropped (only the
// controller writes it), and the result is defaulted and valid, or the
// error is a 4xx status (400 on a name mismatch, 422 Invalid with causes).
func admitTask(t *v1.Task, name string) error {
	if t.Name != "" && t.Name != name {
		return apierrors.NewBadRequest(fmt.Sprintf("metadata.name %q does not match the name %q in the path", t.Name, name))
	}
	t.Name = name
	t.Status = v1.TaskStatus{}
	v1.SetDefaults(t)
	if errs := validateAdmission(t); len(errs) > 0 {
		return apierrors.NewInvalid(taskGroupKind, name, errs)
	}
	return nil
}
