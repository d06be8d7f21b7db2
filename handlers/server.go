package handlers

import (
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// ServerLimits bound what one connection may hold of the server, so that
// slow or idle clients are cut instead of piling up (slow-loris).
type ServerLimits struct {
	// ReadHeaderTimeout bounds reading a request's header.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole ordinary request, header and body.
	// An ordinary request whose handler is still running when it passes
	// has its context cancelled, which bounds it as well.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing an ordinary response, from the end of
	// its header on.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for its
	// next request.
	IdleTimeout time.Duration
}

// DefaultServerLimits are generous for any client on a working network:
// the largest body (1 MiB) in 30 s is 35 KB/s.
var DefaultServerLimits = ServerLimits{
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       30 * time.Second,
	WriteTimeout:      60 * time.Second,
	IdleTimeout:       60 * time.Second,
}

// NewServer returns the http.Server for h with limits. Watches and log
// follows last as long as their client wants, so they are exempt from
// ReadTimeout and from WriteTimeout as a bound on the whole response;
// each of their writes must still complete within WriteTimeout, so a
// client that stops reading is cut (withStreamDeadlines). They count
// against the listener's connection cap like any connection. Server
// errors (TLS handshakes, accept failures) go to logger, the process's one
// log sink.
func NewServer(h http.Handler, limits ServerLimits, logger *slog.Logger) *http.Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           withStreamDeadlines(h, limits.WriteTimeout),
		ReadHeaderTimeout: limits.ReadHeaderTimeout,
		ReadTimeout:       limits.ReadTimeout,
		WriteTimeout:      limits.WriteTimeout,
		IdleTimeout:       limits.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// withStreamDeadlines replaces the server's deadlines for the two endless
// responses, a watch and a log follow. The read deadline goes: when it
// passes, the server's background read of the connection fails and
// cancels the request's context, which would end the stream. The write
// deadline becomes one per write (perWrite), so a stream may last for
// ever but a client that stops reading cannot hold its goroutine and
// buffers for ever. Doing it here, by request shape, keeps the stream
// handlers unaware of server limits.
func withStreamDeadlines(next http.Handler, perWrite time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isStream(r) {
			rc := http.NewResponseController(w)
			// ErrNotSupported only under test recorders; nothing to lift there.
			_ = rc.SetReadDeadline(time.Time{})
			_ = rc.SetWriteDeadline(time.Time{})
			if perWrite > 0 {
				w = &writeDeadliner{ResponseWriter: w, rc: rc, d: perWrite}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// writeDeadliner gives each Write of a stream d to complete. Between
// writes the connection may stay quiet as long as it likes: the deadline
// is only ever checked while a write is under way.
type writeDeadliner struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *writeDeadliner) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController (Flush, deadlines) reach the
// server's writer through this one.
func (w *writeDeadliner) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// isStream reports whether r asks for a watch, a log follow or a store
// backup. An unparsable flag is not a stream; its handler answers 400 at
// once.
func isStream(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	p := r.URL.Path
	switch {
	case p == "/v1/tasks":
		on, err := boolParam(r, "watch")
		return on && err == nil
	case strings.HasPrefix(p, "/v1/tasks/") && strings.HasSuffix(p, "/logs"):
		on, err := boolParam(r, "follow")
		return on && err == nil
	case p == BackupPath:
		return true // a large store takes longer than the write timeout
	}
	return false
}
