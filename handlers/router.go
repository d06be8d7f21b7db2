// Package handlers is cubelet's HTTP surface: the declarative v1 Task API,
// the Cube worker API, health, readiness and metrics, on one gorilla/mux
// router. It owns decoding, defaulting, validation and error rendering; it
// must not talk to Docker except to stream a container's logs, and never
// changes a task's status (the controller owns status).
package handlers

import (
	"context"
	"io"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/cubelet/cubelet/hoststats"
	"github.com/cubelet/cubelet/runtime"
	"github.com/cubelet/cubelet/store"
)

// LogSource streams a container's output, demultiplexed.
type LogSource interface {
	ContainerLogs(ctx context.Context, containerID string, opts runtime.LogOptions) (io.ReadCloser, error)
}

// Config is what the router needs.
type Config struct {
	Store store.Interface
	// Logs streams container output for /v1/tasks/{name}/logs.
	Logs LogSource
	// Ready reports nil once cubelet can serve (informers synced, Docker
	// reachable); /readyz answers 503 with its error otherwise.
	Ready func(ctx context.Context) error
	// Metrics serves /metrics; nil leaves the route out.
	Metrics http.Handler
	// Token, when set, is the bearer token every request but /healthz and
	// /readyz must carry.
	Token string
	// CubeOnly serves only the Cube worker API (/tasks, /stats) and the
	// probes: the unauthenticated listener of --cube-insecure-addr.
	CubeOnly bool
	// ListenHost is the host of the listen address; when it names one
	// address or name (not a wildcard) it is an accepted Host.
	ListenHost string
	// AllowedHosts are further names (or addresses) accepted in Host,
	// beyond localhost, loopback and the connection's own address.
	AllowedHosts []string
	// HTTPMetrics counts refused requests; nil counts nothing.
	HTTPMetrics *HTTPMetrics
	// HostStats reads the host's figures for Cube's GET /stats; nil
	// reads this host's /proc (hoststats.Read).
	HostStats func() (hoststats.Stats, error)
	// Usage serves /v1/tasks/{name}/usage and /v1/usage; nil leaves them out.
	Usage  UsageSource
	Logger *slog.Logger
}

// NewRouter returns the HTTP handler for cfg. Every request passes the
// browser guard (Host, Origin, Content-Type) first, then the token check,
// then reaches its route; the dashboard's static files (/ui/) alone skip
// the token check, since a browser must load the page to be asked for one.
func NewRouter(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := mux.NewRouter()
	if cfg.CubeOnly {
		// No /metrics: what the unauthenticated listener opens is exactly
		// what a Cube manager uses, and nothing else.
		health := cfg
		health.Metrics = nil
		registerHealth(r, health)
	} else {
		registerHealth(r, cfg)
		registerV1(r, cfg)
		registerBackup(r, cfg) // never on the unauthenticated Cube listener
		registerUsage(r, cfg)
		registerNodes(r, cfg)
	}
	registerCube(r, cfg)
	r.NotFoundHandler = http.HandlerFunc(routeNotFound)
	r.MethodNotAllowedHandler = http.HandlerFunc(methodNotAllowed)
	return newGuard(cfg).wrap(withUI(cfg, withBearerToken(cfg.Token, cfg.HTTPMetrics, r)))
}
