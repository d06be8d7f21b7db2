package cli

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

func TestNewClient_AddressForms(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		wantErr  bool
	}{
		{in: "127.0.0.1:5556", want: "http://127.0.0.1:5556"},
		{in: "http://localhost:5556/", want: "http://localhost:5556"},
		{in: "https://cubelet.example:443", want: "https://cubelet.example:443"},
		{in: "unix:///run/cubelet/cubelet.sock", want: "unix:///run/cubelet/cubelet.sock"},
		{in: "unix://relative.sock", wantErr: true},
		{in: "unix://", wantErr: true},
		{in: "ftp://x", wantErr: true},
		{in: "http://", wantErr: true},
	} {
		c, err := NewClient(tc.in, "")
		if tc.wantErr {
			if err == nil {
				t.Errorf("NewClient(%q) = %s, want an error", tc.in, c.Server())
			}
			continue
		}
		if err != nil || c.Server() != tc.want {
			t.Errorf("NewClient(%q) = %v, %v; want %s", tc.in, c, err, tc.want)
		}
	}
}

func TestConnection_ServerFromFlagThenEnvThenDefault(t *testing.T) {
	t.Setenv(ServerEnv, "10.0.0.1:7000")
	c, err := (&connection{server: "10.0.0.2:8000"}).client()
	if err != nil || c.Server() != "http://10.0.0.2:8000" {
		t.Fatalf("flag: %v %v", c, err)
	}
	c, err = (&connection{}).client()
	if err != nil || c.Server() != "http://10.0.0.1:7000" {
		t.Fatalf("env: %v %v", c, err)
	}
	t.Setenv(ServerEnv, "")
	c, err = (&connection{}).client()
	if err != nil || c.Server() != DefaultServer {
		t.Fatalf("default: %v %v", c, err)
	}
}

func TestClient_SendsBearerTokenFromFile(t *testing.T) {
	f, _ := newFakeServer(t)
	f.token = strings.Repeat("s3cret", 6)
	srv := httptest.NewServer(f)
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(f.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	anon, _ := (&connection{server: srv.URL}).client()
	if _, err := anon.List(context.Background(), ""); !apierrors.IsUnauthorized(err) {
		t.Fatalf("without token: %v, want Unauthorized", err)
	}
	authed, err := (&connection{server: srv.URL, tokenFile: path}).client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authed.List(context.Background(), ""); err != nil {
		t.Fatalf("with token: %v", err)
	}
}

func TestClient_StatusErrorsKeepReasonAndMessage(t *testing.T) {
	_, c := newFakeServer(t)
	_, err := c.Get(context.Background(), "nosuch")
	if !apierrors.IsNotFound(err) {
		t.Fatalf("err = %v, want NotFound", err)
	}
	if want := `Error from server (NotFound): tasks.cubelet "nosuch" not found`; err.Error() != want {
		t.Errorf("message = %q, want %q", err.Error(), want)
	}
}

func TestClient_NonStatusErrorBodyBecomesTheMessage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "bad gateway from proxy", http.StatusBadGateway)
	}))
	defer srv.Close()
	c, _ := NewClient(srv.URL, "")
	_, err := c.List(context.Background(), "")
	var se *ServerError
	if !asServerError(err, &se) || se.ErrStatus.Code != http.StatusBadGateway ||
		!strings.Contains(err.Error(), "bad gateway from proxy") {
		t.Fatalf("err = %v", err)
	}
}

func TestClient_UnreachableServerSaysWhere(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, _ := NewClient(url, "")
	_, err := c.List(context.Background(), "")
	if err == nil || !strings.Contains(err.Error(), "cannot reach cubelet at "+url) {
		t.Fatalf("err = %v", err)
	}
}

func TestClient_ListSendsLabelSelector(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query().Get("labelSelector")
		writeFakeJSON(w, http.StatusOK, &v1.TaskList{})
	}))
	defer srv.Close()
	c, _ := NewClient(srv.URL, "")
	if _, err := c.List(context.Background(), "app=web,tier!=db"); err != nil {
		t.Fatal(err)
	}
	if got != "app=web,tier!=db" {
		t.Errorf("labelSelector = %q", got)
	}
}

func TestWatcher_DecodesEveryEventType(t *testing.T) {
	stream := `{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"3"},"spec":{"image":"i"}}}
{"type":"BOOKMARK","object":{"kind":"Task","apiVersion":"cubelet/v1","metadata":{"resourceVersion":"9"}}}
{"type":"DELETED","object":{"metadata":{"name":"a","resourceVersion":"10"},"spec":{"image":"i"}}}
{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410,"message":"too old"}}
`
	var query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.RawQuery
		_, _ = io.WriteString(w, stream)
	}))
	defer srv.Close()
	c, _ := NewClient(srv.URL, "")
	w, err := c.Watch(context.Background(), "app=x", "2")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, q := range []string{"watch=true", "allowWatchBookmarks=true", "resourceVersion=2", "labelSelector=app%3Dx"} {
		if !strings.Contains(query, q) {
			t.Errorf("query %q lacks %s", query, q)
		}
	}
	want := []struct {
		typ watch.EventType
		rv  string
	}{{watch.Added, "3"}, {watch.Bookmark, "9"}, {watch.Deleted, "10"}, {watch.Error, ""}}
	for _, w0 := range want {
		ev, err := w.Next()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if ev.Type != w0.typ || ev.ResourceVersion != w0.rv {
			t.Errorf("event = %s rv %q, want %s rv %q", ev.Type, ev.ResourceVersion, w0.typ, w0.rv)
		}
		if ev.Type == watch.Error && (ev.Status == nil || ev.Status.Code != 410) {
			t.Errorf("ERROR event status = %+v", ev.Status)
		}
	}
	if _, err := w.Next(); err != io.EOF {
		t.Errorf("after the stream: %v, want io.EOF", err)
	}
}

func TestFollowTasks_ExpiredErrorEventIsResourceExpired(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410,"message":"too old"}}`+"\n")
	}))
	defer srv.Close()
	c, _ := NewClient(srv.URL, "")
	err := followTasks(context.Background(), c, "", "1", func(Event) (bool, error) { return false, nil })
	if !isExpired(err) {
		t.Fatalf("err = %v, want Expired", err)
	}
}

func TestFollowTasks_ResumesFromLastResourceVersionAfterCleanEnd(t *testing.T) {
	var rvs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rvs = append(rvs, r.URL.Query().Get("resourceVersion"))
		if len(rvs) == 1 {
			_, _ = io.WriteString(w, `{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"7"}}}`+"\n")
			return // a clean end: the client must come back from 7
		}
		_, _ = io.WriteString(w, `{"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"8"},"spec":{"image":"i"}}}`+"\n")
	}))
	defer srv.Close()
	c, _ := NewClient(srv.URL, "")
	err := followTasks(context.Background(), c, "", "5", func(ev Event) (bool, error) {
		return ev.Task.Name == "a", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rvs, ",") != "5,7" {
		t.Errorf("watched from %v, want [5 7]", rvs)
	}
}

func TestClient_UnixSocket_TalksHTTPAsLocalhost(t *testing.T) {
	f, _ := newFakeServer(t)
	var host string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host = r.Host
		f.ServeHTTP(w, r)
	}))
	sock := filepath.Join(t.TempDir(), "cubelet.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	t.Setenv(ServerEnv, "unix://"+sock)
	c, err := (&connection{}).client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(context.Background(), ""); err != nil {
		t.Fatalf("list over the socket: %v", err)
	}
	if host != "localhost" {
		t.Errorf("Host %q, want localhost (what cubelet's Host check accepts)", host)
	}
}

func TestClient_UnixSocketMissing_SaysWhatToCheck(t *testing.T) {
	c, err := NewClient("unix://"+filepath.Join(t.TempDir(), "none.sock"), "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.List(context.Background(), "")
	if err == nil || !strings.Contains(err.Error(), "is `cubelet serve` running?") {
		t.Fatalf("err = %v, want a hint", err)
	}
}

func TestReadTokenFile_RefusesShortTokensAndOpenModes(t *testing.T) {
	dir := t.TempDir()
	good := strings.Repeat("k", MinTokenBytes)
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		wantErr       string
	}{
		{"good", good + "\n", 0o600, ""},
		{"owner read-only", "  " + good + "\n", 0o400, ""},
		{"one byte", "x", 0o600, "holds 1 bytes; a token needs at least 32"},
		{"31 bytes after trimming", strings.Repeat("k", 31) + "\n\n", 0o600, "holds 31 bytes"},
		{"empty", "\n", 0o600, "is empty"},
		{"world-readable", good, 0o644, "has mode 0644"},
		{"group-readable", good, 0o640, "chmod 600"},
		{"world-writable", good, 0o602, "has mode 0602"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			token, err := ReadTokenFile(path)
			if tc.wantErr == "" {
				if err != nil || token != good {
					t.Fatalf("ReadTokenFile = %q, %v; want the token", token, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ReadTokenFile = %q, %v; want an error with %q", token, err, tc.wantErr)
			}
		})
	}
}
