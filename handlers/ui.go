package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"

	"github.com/cubelet/cubelet/ui"
)

// uiPrefix is where the dashboard is served.
const uiPrefix = "/ui/"

// uiCSP keeps the page to its own files and its own origin: no inline
// script, no third-party anything, no framing (clickjacking an action
// button), and fetch only to the API it came from.
const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// withUI serves the dashboard's static files ahead of the token check and
// passes every other request to next. The files hold no secret and do
// nothing by themselves, and a browser that opens /ui/ cannot send a
// bearer token with a navigation: the page has to load first to ask for
// one, and every API call it then makes carries it and meets the check.
// It sits behind the browser guard, so a foreign Host or Origin is still
// refused. The Cube-only listener serves no dashboard.
func withUI(cfg Config, next http.Handler) http.Handler {
	if cfg.CubeOnly {
		return next
	}
	files := newUIFiles(ui.Files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/ui":
			http.Redirect(w, r, uiPrefix, http.StatusMovedPermanently)
		case strings.HasPrefix(r.URL.Path, uiPrefix):
			files.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// uiFiles serves an embedded tree with content ETags: embedded files have
// no modification time, so without them a browser would fetch every file
// on every load.
type uiFiles struct {
	fsys  fs.FS
	etags map[string]string // path inside fsys -> quoted ETag
	files http.Handler
}

func newUIFiles(fsys fs.FS) *uiFiles {
	u := &uiFiles{fsys: fsys, etags: map[string]string{}, files: http.StripPrefix(strings.TrimSuffix(uiPrefix, "/"), http.FileServerFS(fsys))}
	// The tree is embedded: a walk error is impossible short of a broken
	// build, and a file without an ETag is still served.
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err == nil {
			sum := sha256.Sum256(data)
			u.etags[p] = `"` + hex.EncodeToString(sum[:8]) + `"`
		}
		return nil
	})
	return u
}

func (u *uiFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, r)
		return
	}
	p := strings.TrimPrefix(r.URL.Path, uiPrefix)
	if strings.HasSuffix(p, "/") {
		// The file server would list the directory: only the page's own
		// directory has an index.
		routeNotFound(w, r)
		return
	}
	if p == "" {
		p = "index.html"
	}
	h := w.Header()
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	// Revalidate every time: the ETag makes that a 304, and a new binary's
	// files are never mixed with an old one's.
	h.Set("Cache-Control", "no-cache")
	if tag, ok := u.etags[p]; ok {
		h.Set("ETag", tag) // http.ServeContent answers If-None-Match with it
	}
	u.files.ServeHTTP(w, r)
}
