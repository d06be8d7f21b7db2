package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// withBearerToken lets a request through only when it carries
// "Authorization: Bearer <token>". The probes stay open so a supervisor can
// check liveness and readiness without the secret. An empty token disables
// the check: the Unix socket is guarded by its file mode, and the Cube
// listener is open by the operator's explicit choice (docs/api.md).
func withBearerToken(token string, metrics *HTTPMetrics, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	// Comparing digests keeps the compare constant-time in the length of
	// the token too: ConstantTimeCompare returns early on unequal lengths.
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := bearerToken(r.Header.Get("Authorization"))
		gotSum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(gotSum[:], want[:]) != 1 {
			metrics.refuse(refusedToken)
			w.Header().Set("WWW-Authenticate", `Bearer realm="cubelet"`)
			writeStatus(w, apierrors.NewUnauthorized("a valid bearer token is required"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearerToken extracts the token from an Authorization header value; the
// scheme is case-insensitive (RFC 7235).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
