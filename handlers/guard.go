package handlers

import (
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Refusal reasons, the values of cubelet_http_refused_total's reason label.
const (
	refusedHost        = "host"
	refusedOrigin      = "origin"
	refusedContentType = "content_type"
	refusedToken       = "token"
)

// HTTPMetrics counts requests the API refused before any handler ran. One
// value serves every router of a process (each listener has its own), so
// the counter is registered once.
type HTTPMetrics struct {
	refused *prometheus.CounterVec
}

// NewHTTPMetrics registers cubelet_http_refused_total with reg; a nil reg
// keeps the counter unregistered (tests).
func NewHTTPMetrics(reg prometheus.Registerer) *HTTPMetrics {
	m := &HTTPMetrics{refused: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cubelet_http_refused_total",
		Help: "HTTP requests refused before reaching the API, by reason: host (not a loopback or allowed name: DNS rebinding), origin (a cross-site browser request), content_type (a body that is not JSON), token (missing or wrong bearer token).",
	}, []string{"reason"})}
	// Every reason starts at 0, so a rate() over it works before the first refusal.
	for _, r := range []string{refusedHost, refusedOrigin, refusedContentType, refusedToken} {
		m.refused.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.refused)
	}
	return m
}

func (m *HTTPMetrics) refuse(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}

// guard refuses what a web page could make a browser send to cubelet. A
// browser will send requests to any address a page names, loopback and
// LAN included, so neither "listening on 127.0.0.1" nor a Unix socket
// behind a local proxy keeps web pages out on its own:
//
//   - DNS rebinding: a page at evil.example re-points its own name at
//     127.0.0.1 and then talks to cubelet as "same origin". The browser
//     still sends "Host: evil.example", so a Host that is not loopback, the
//     address the connection arrived on, the configured listen name or an
//     --allowed-host is refused (403). An IP literal cannot be rebound, so
//     the connection's own address is always safe to accept.
//   - Cross-site requests: a page may POST to any URL without a CORS
//     preflight when the body is text/plain or a form. Browsers mark those
//     with Origin (and Sec-Fetch-Site); one that is not the server's own
//     is refused (403).
//   - A body that is not application/json is refused (415) whatever its
//     origin, so no "simple request" a browser sends without a preflight
//     can carry a task. The API takes JSON only; the client converts YAML
//     manifests before sending.
//
// Clients that are not browsers (curl, the cubelet client, Cube's manager)
// send none of these headers, or a loopback Host, and pass untouched.
type guard struct {
	// hosts are the extra names and addresses accepted in Host, lower case.
	hosts   map[string]bool
	metrics *HTTPMetrics
}

func newGuard(cfg Config) *guard {
	g := &guard{hosts: map[string]bool{}, metrics: cfg.HTTPMetrics}
	for _, h := range append([]string{cfg.ListenHost}, cfg.AllowedHosts...) {
		if h = hostOnly(h); h != "" && !isWildcard(h) {
			g.hosts[h] = true
		}
	}
	return g
}

func (g *guard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reason, code, msg := g.check(r)
		if reason == "" {
			next.ServeHTTP(w, r)
			return
		}
		g.metrics.refuse(reason)
		if isCubePath(r.URL.Path) {
			writeCubeError(w, nil, cubeError(code, "%s", msg))
			return
		}
		statusReason := metav1.StatusReasonForbidden
		if code == http.StatusUnsupportedMediaType {
			statusReason = metav1.StatusReasonUnsupportedMediaType
		}
		writeStatus(w, &apierrors.StatusError{ErrStatus: metav1.Status{Code: int32(code), Reason: statusReason, Message: msg}})
	})
}

// check returns why r is refused, with the code and message to answer;
// an empty reason lets r through.
func (g *guard) check(r *http.Request) (reason string, code int, msg string) {
	if !g.hostAllowed(r) {
		return refusedHost, http.StatusForbidden, fmt.Sprintf(
			"host %q is not allowed: cubelet answers to localhost, loopback addresses and the address it listens on (add a name with --allowed-host)", r.Host)
	}
	if origin := r.Header.Values("Origin"); len(origin) > 0 && !sameOrigin(r, origin[0]) {
		return refusedOrigin, http.StatusForbidden, fmt.Sprintf(
			"cross-origin request from %q refused: cubelet serves no web page of another origin", origin[0])
	}
	// Sec-Fetch-Site covers the browser requests that carry no Origin
	// (a cross-site GET from an <img> or <script>).
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return refusedOrigin, http.StatusForbidden, fmt.Sprintf("%s browser request refused (Sec-Fetch-Site)", site)
	}
	if hasBody(r) && !isJSON(r.Header.Get("Content-Type")) {
		return refusedContentType, http.StatusUnsupportedMediaType, fmt.Sprintf(
			"Content-Type %q is not supported: send application/json", r.Header.Get("Content-Type"))
	}
	return "", 0, ""
}

// hostAllowed accepts an empty Host (HTTP/1.0, never a browser), localhost,
// a loopback address, the address the connection arrived on, and the
// configured names.
func (g *guard) hostAllowed(r *http.Request) bool {
	if r.Host == "" {
		return true
	}
	h := hostOnly(r.Host)
	if h == "localhost" || g.hosts[h] {
		return true
	}
	ip := net.ParseIP(h)
	if ip == nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok && local.IP.Equal(ip) {
		return true
	}
	return false
}

// sameOrigin reports whether origin is the origin the request was sent
// to: the same scheme and the same host and port as its Host.
func sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" { // "null" (sandboxed frames, file://) included
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if !strings.EqualFold(u.Scheme, scheme) {
		return false
	}
	return strings.EqualFold(withDefaultPort(u.Host, scheme), withDefaultPort(r.Host, scheme))
}

func withDefaultPort(hostport, scheme string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	port := "80"
	if scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(strings.Trim(hostport, "[]"), port)
}

// hasBody reports whether the request carries, or by its method is meant
// to carry, a body. POST, PUT and PATCH are checked even when empty, so an
// empty form post is refused the same way as a full one.
func hasBody(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return true
	}
	return r.ContentLength != 0
}

// isJSON accepts application/json with any parameters (charset=utf-8).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// hostOnly strips the port and IPv6 brackets and lower-cases.
func hostOnly(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	return strings.ToLower(strings.Trim(h, "[]"))
}

// isWildcard reports whether a listen host means "every address", which
// names no host a client would send.
func isWildcard(h string) bool {
	ip := net.ParseIP(h)
	return ip != nil && ip.IsUnspecified()
}

// isCubePath reports whether path is one of the Cube worker API's, whose
// clients expect Cube's error shape.
func isCubePath(path string) bool {
	for _, p := range []string{"/tasks", "/stats"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}
