package handlers

import (
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/cubelet/cubelet/hoststats"
	"github.com/cubelet/cubelet/store"
)

// cubeAPI serves the worker API of Cube, the orchestrator of "Build an
// Orchestrator in Go", so that an unchanged Cube manager can use cubelet
// as a worker. It is a second door onto the same store as /v1: a Cube
// task is a v1 Task named by its UUID, and the controller runs both kinds
// alike. See docs/cube-compat.md for the mapping and every deliberate
// difference from the book's worker.
type cubeAPI struct {
	store     store.Interface
	hostStats func() (hoststats.Stats, error)
	logger    *slog.Logger
}

// registerCube adds the Cube worker API. Every route also answers with a
// trailing slash, as Cube's chi routes do, and a method a path does not
// serve gets 405 in Cube's error shape.
func registerCube(r *mux.Router, cfg Config) {
	a := &cubeAPI{store: cfg.Store, hostStats: cfg.HostStats, logger: cfg.Logger}
	if a.hostStats == nil {
		a.hostStats = hoststats.Read
	}
	routes := []struct {
		path     string
		handlers map[string]http.HandlerFunc
	}{
		{"/tasks", map[string]http.HandlerFunc{http.MethodPost: a.post, http.MethodGet: a.list}},
		{"/tasks/{taskID}", map[string]http.HandlerFunc{http.MethodGet: a.get, http.MethodDelete: a.delete}},
		{"/stats", map[string]http.HandlerFunc{http.MethodGet: a.stats}},
	}
	for _, route := range routes {
		allowed := slices.Sorted(maps.Keys(route.handlers))
		for _, path := range []string{route.path, route.path + "/"} {
			for method, h := range route.handlers {
				r.Path(path).Methods(method).HandlerFunc(h)
			}
			r.Path(path).HandlerFunc(cubeMethodNotAllowed(allowed))
		}
	}
}

// cubeMethodNotAllowed answers a method the path does not serve. It is
// registered after the path's own routes, so gorilla/mux reaches it only
// when none of them matched the method.
func cubeMethodNotAllowed(allowed []string) http.HandlerFunc {
	allow := strings.Join(allowed, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeCubeError(w, nil, cubeError(http.StatusMethodNotAllowed,
			"method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
	}
}
