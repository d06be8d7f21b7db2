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
// ReadTimeout and WriteTimeout (withStreamDeadlines); they still count
// against the listener's connection cap. Server errors (TLS handshakes,
// accept failures) go to logger, the process's one log sink.
func NewServer(h http.Handler, limits ServerLimits, logger *slog.Logger) *http.Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           withStreamDeadlines(h),
		ReadHeaderTimeout: limits.ReadHeaderTimeout,
		ReadTimeout:       limits.ReadTimeout,
		WriteTimeout:      limits.WriteTimeout,
		IdleTimeout:       limits.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// withStreamDeadlines lifts the server's read and write deadlines for the
// two endless responses, a watch and a log follow. The read deadline must
// go too: when it passes, the server's background read of the connection
// fails and cancels the request's context, which would end the stream.
// Doing it here, by request shape, keeps the stream handlers unaware of
// server limits.
func withStreamDeadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isStream(r) {
			rc := http.NewResponseController(w)
			// ErrNotSupported only under test recorders; nothing to lift there.
			_ = rc.SetReadDeadline(time.Time{})
			_ = rc.SetWriteDeadline(time.Time{})
		}
		next.ServeHTTP(w, r)
	})
}

// isStream reports whether r asks for a watch or a log follow. An
// unparsable flag is not a stream; its handler answers 400 at once.
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
