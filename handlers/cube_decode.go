package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/cubelet/cubelet/apis/cube"
)

// cubeMaxBodyBytes bounds a TaskEvent body; larger bodies get 413.
const cubeMaxBodyBytes = 1 << 20

// decodeTaskEvent reads exactly one TaskEvent, strictly: unknown fields,
// wrong types and anything after the object are 400, a body over the
// limit (set by the caller with http.MaxBytesReader) is 413. Zero values,
// nulls and zero times, which Cube's manager always sends, are accepted.
func decodeTaskEvent(r io.Reader) (cube.TaskEvent, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var te cube.TaskEvent
	if err := dec.Decode(&te); err != nil {
		return cube.TaskEvent{}, taskEventDecodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			return cube.TaskEvent{}, cubeError(http.StatusBadRequest, "request body must hold a single TaskEvent")
		}
		return cube.TaskEvent{}, taskEventDecodeError(err)
	}
	return te, nil
}

func taskEventDecodeError(err error) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return cubeError(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", tooLarge.Limit)
	case errors.Is(err, io.EOF):
		return cubeError(http.StatusBadRequest, "request body is empty: want a TaskEvent")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return cubeError(http.StatusBadRequest, "request body is truncated JSON")
	default:
		return cubeError(http.StatusBadRequest, "decoding TaskEvent: %v", err)
	}
}
