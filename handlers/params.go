package handlers

import (
	"fmt"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// boolParam reads an optional boolean query parameter ("true", "1", ...);
// absent is false, anything unparsable is 400.
func boolParam(r *http.Request, key string) (bool, error) {
	s := r.URL.Query().Get(key)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, apierrors.NewBadRequest(fmt.Sprintf("query parameter %s=%q is not a boolean", key, s))
	}
	return b, nil
}

// intParam reads an optional integer query parameter no smaller than min;
// absent gives def, anything else is 400.
func intParam(r *http.Request, key string, def, min int64) (int64, error) {
	s := r.URL.Query().Get(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("query parameter %s=%q must be an integer >= %d", key, s, min))
	}
	return n, nil
}
