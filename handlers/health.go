package handlers

import (
	"io"
	"net/http"

	"github.com/gorilla/mux"
)

// registerHealth adds the probes and metrics. /healthz says the process
// serves HTTP; /readyz says it can do its job (cfg.Ready); both answer in
// plain text, as Kubernetes components do, so curl and probes read them.
func registerHealth(r *mux.Router, cfg Config) {
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok")
	}).Methods(http.MethodGet, http.MethodHead)

	r.HandleFunc("/readyz", func(w http.ResponseWriter, req *http.Request) {
		if cfg.Ready != nil {
			if err := cfg.Ready(req.Context()); err != nil {
				writeText(w, http.StatusServiceUnavailable, err.Error())
				return
			}
		}
		writeText(w, http.StatusOK, "ok")
	}).Methods(http.MethodGet, http.MethodHead)

	if cfg.Metrics != nil {
		r.Handle("/metrics", cfg.Metrics).Methods(http.MethodGet, http.MethodHead)
	}
}

func writeText(w http.ResponseWriter, code int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, text+"\n")
}
