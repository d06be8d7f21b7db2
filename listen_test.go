package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestListenUnix_Mode0660AndStaleSocketReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "cubelet.sock")
	// A stale socket: bound, then its listener gone without unlinking it,
	// as after kill -9.
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	_ = stale.Close()

	sock, err := listenUnix(path, "")
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want socket 0660", fi.Mode())
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*.tmp")); len(leftovers) != 0 {
		t.Errorf("temporary names left behind: %v", leftovers)
	}
	go func() {
		if c, err := sock.listener.Accept(); err == nil {
			_ = c.Close()
		}
	}()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial the new socket: %v", err)
	}
	_ = conn.Close()

	// A second cubelet on the same socket is refused while this one lives.
	if _, err := listenUnix(path, ""); err == nil || !strings.Contains(err.Error(), "another cubelet serves "+path) {
		t.Fatalf("second listener: %v, want a refusal naming the socket", err)
	}
	if err := sock.remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket left behind after remove: %v", err)
	}
}

func TestListenUnix_PathNotASocket_Refused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cubelet.sock")
	if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := listenUnix(path, ""); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Fatalf("err = %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "data" {
		t.Error("the file was touched")
	}
}

func TestCheckListenFlags(t *testing.T) {
	base := func() serveFlags {
		var f serveFlags
		f.listen.socket = defaultSocket
		f.listen.maxConnections = 1024
		return f
	}
	token := strings.Repeat("t", 32)
	for _, tc := range []struct {
		name    string
		mutate  func(*serveFlags)
		token   string
		wantErr string
	}{
		{"socket only", func(*serveFlags) {}, "", ""},
		{"tcp loopback without token", func(f *serveFlags) { f.addr = "127.0.0.1:5556" }, "", "refusing to listen on 127.0.0.1:5556 without --token-file"},
		{"tcp wildcard without token", func(f *serveFlags) { f.addr = ":5556" }, "", "without --token-file"},
		{"tcp with token", func(f *serveFlags) { f.addr = "0.0.0.0:5556" }, token, ""},
		{"tls without addr", func(f *serveFlags) { f.tlsCert, f.tlsKey = "c", "k" }, "", "serve --addr"},
		{"cube insecure needs no token", func(f *serveFlags) { f.listen.cubeInsecureAddr = "127.0.0.1:5555" }, "", ""},
		{"cube insecure bad addr", func(f *serveFlags) { f.listen.cubeInsecureAddr = "5555" }, "", "--cube-insecure-addr"},
		{"no socket", func(f *serveFlags) { f.listen.socket = "" }, "", "--socket"},
		{"no connections", func(f *serveFlags) { f.listen.maxConnections = 0 }, "", "--max-connections"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := base()
			tc.mutate(&f)
			err := checkListenFlags(f, tc.token)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("checkListenFlags = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// The cap holds n connections; the next waits in the backlog until one
// closes, then is served.
func TestLimitListener_HoldsAtMostNAndAdmitsWhenOneCloses(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := limitListener(inner, 2)
	defer l.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first := <-accepted
	<-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted over a cap of 2")
	case <-time.After(200 * time.Millisecond): // proving a negative takes a wait
	}
	_ = first.Close()
	select {
	case c := <-accepted:
		_ = c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting connection was not accepted after one closed")
	}
}

func TestLimitListener_CloseWakesAWaitingAccept(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := limitListener(inner, 1)
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := l.Accept(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	_ = l.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Accept after Close returned a connection")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake Accept")
	}
}
