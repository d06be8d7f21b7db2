package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/store"
)

// runCubelet runs the binary to completion and returns its output and exit
// code.
func runCubelet(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit) && ctx.Err() == nil:
		return string(out), exit.ExitCode()
	default:
		t.Fatalf("cubelet %v: %v\n%s", args, err, out)
		return "", 0
	}
}

// writeToken writes a fresh 32-byte-plus token into dir with mode 0600
// and returns it and the file's path.
func writeToken(t *testing.T, dir string) (token, path string) {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	token = hex.EncodeToString(b)
	path = filepath.Join(dir, "token")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return token, path
}

func TestE2E_Security_DefaultListenerIsTheUnixSocket_AndEveryFlagIsExplained(t *testing.T) {
	out, code := runCubelet(t, "serve", "--help")
	if code != 0 {
		t.Fatalf("serve --help: exit %d\n%s", code, out)
	}
	flags := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[0], "--") {
			flags[f[0]] = line
		} else if len(f) > 2 && strings.HasPrefix(f[1], "--") {
			flags[f[1]] = line
		}
	}
	if !strings.Contains(flags["--socket"], `(default "/run/cubelet/cubelet.sock")`) {
		t.Errorf("--socket is not the default listener: %q", flags["--socket"])
	}
	if l := flags["--addr"]; strings.Contains(l, "(default") || !strings.Contains(l, "--token-file") {
		t.Errorf("--addr must be off by default and say it needs --token-file: %q", l)
	}
	if l := flags["--cube-insecure-addr"]; !strings.Contains(l, "anyone who can reach ADDR can run containers on this host (root-equivalent)") {
		t.Errorf("--cube-insecure-addr does not say what it opens: %q", l)
	}
	for _, f := range []string{"--socket-group", "--allowed-host", "--max-connections", "--read-header-timeout",
		"--read-timeout", "--write-timeout", "--idle-timeout", "--token-file"} {
		if len(strings.Fields(flags[f])) < 4 {
			t.Errorf("%s is not explained in serve --help: %q", f, flags[f])
		}
	}
}

// TCP, loopback included, is open to every local user and to web pages, so
// it is refused without a token, before anything is created on disk.
func TestE2E_Security_TCPWithoutToken_RefusesToStart(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "0.0.0.0:0", ":0", "[::]:0"} {
		t.Run(addr, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			out, code := runCubelet(t, "serve", "--addr", addr, "--data-dir", dataDir, "--socket", filepath.Join(t.TempDir(), "s.sock"))
			if code == 0 {
				t.Fatalf("cubelet started on %s without a token:\n%s", addr, out)
			}
			if !strings.Contains(out, "refusing to listen on "+addr+" without --token-file") {
				t.Fatalf("no clear refusal in the output:\n%s", out)
			}
			if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
				t.Errorf("refused start created the data dir: %v", err)
			}
		})
	}
}

func TestE2E_Security_WeakTokenFile_RefusesToStart(t *testing.T) {
	dir := t.TempDir()
	_, good := writeToken(t, dir)
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	readable := filepath.Join(dir, "readable")
	data, _ := os.ReadFile(good)
	if err := os.WriteFile(readable, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(readable, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{short, "holds 1 bytes; a token needs at least 32"},
		{readable, "has mode 0644"},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			out, code := runCubelet(t, "serve", "--addr", "0.0.0.0:0", "--token-file", tc.file,
				"--data-dir", filepath.Join(t.TempDir(), "data"), "--socket", filepath.Join(t.TempDir(), "s.sock"))
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want a refusal saying %q:\n%s", code, tc.want, out)
			}
		})
	}
}

// TestE2E_Security_TokenTLSAndFileModes runs cubelet on all interfaces with
// a bearer token and a self-signed TLS certificate, over a data dir it has
// to create: requests need the token (the probes excepted), HTTPS is
// served and plain HTTP is not, and the store is private to its user.
func TestE2E_Security_TokenTLSAndFileModes(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	e.dataDir = filepath.Join(dir, "state", "cubelet")
	token, tokenFile := writeToken(t, dir)
	certFile, keyFile, pool := selfSignedCert(t, dir)

	port := freeAddr(t)[len("127.0.0.1:"):]
	c := e.spawn("https://127.0.0.1:"+port, "--addr", "0.0.0.0:"+port, "--token-file", tokenFile,
		"--tls-cert", certFile, "--tls-key", keyFile, "--resync", "1h")
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
	c.waitReadyWith(client) // /readyz needs no token

	get := func(t *testing.T, url, auth string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}

	t.Run("token", func(t *testing.T) {
		for _, tc := range []struct {
			path, auth string
			code       int
		}{
			{"/v1/tasks", "", http.StatusUnauthorized},
			{"/v1/tasks", "Bearer wrong", http.StatusUnauthorized},
			{"/v1/tasks", "Bearer " + token + "x", http.StatusUnauthorized},
			{"/v1/tasks", "Basic " + token, http.StatusUnauthorized},
			{"/tasks", "", http.StatusUnauthorized},
			{"/metrics", "", http.StatusUnauthorized},
			{"/v1/tasks", "Bearer " + token, http.StatusOK},
			{"/tasks", "bearer " + token, http.StatusOK},
			{"/healthz", "", http.StatusOK},
			{"/readyz", "", http.StatusOK},
		} {
			resp, body := get(t, c.base+tc.path, tc.auth)
			if resp.StatusCode != tc.code {
				t.Errorf("GET %s with %q: %d, want %d: %s", tc.path, tc.auth, resp.StatusCode, tc.code, body)
			}
			if tc.code == http.StatusUnauthorized && (!strings.Contains(body, `"reason":"Unauthorized"`) || resp.Header.Get("WWW-Authenticate") == "") {
				t.Errorf("401 without a Status body or WWW-Authenticate: %v %s", resp.Header, body)
			}
		}
		// A write without the token stores nothing.
		req, _ := http.NewRequest(http.MethodPut, c.base+"/v1/tasks/intruder", strings.NewReader(`{"spec":{"image":"x"}}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("PUT without token: %d", resp.StatusCode)
		}
		if resp, _ := get(t, c.base+"/v1/tasks/intruder", "Bearer "+token); resp.StatusCode != http.StatusNotFound {
			t.Errorf("task written without the token: GET %d", resp.StatusCode)
		}
	})

	t.Run("tls", func(t *testing.T) {
		resp, _ := get(t, c.base+"/healthz", "")
		if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
			t.Fatalf("not served over TLS 1.2+: %+v", resp.TLS)
		}
		plain, err := http.Get("http://127.0.0.1:" + port + "/healthz")
		if err == nil {
			plain.Body.Close()
			if plain.StatusCode == http.StatusOK {
				t.Fatal("plain HTTP answered 200 on the TLS port")
			}
		}
		old := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11,
		}}}
		if resp, err := old.Get(c.base + "/healthz"); err == nil {
			resp.Body.Close()
			t.Fatal("TLS 1.1 was accepted")
		}
	})

	t.Run("file modes", func(t *testing.T) {
		for _, tc := range []struct {
			path string
			want os.FileMode
		}{
			{e.dataDir, 0o700 | os.ModeDir},
			{filepath.Dir(e.dataDir), 0o700 | os.ModeDir},
			{filepath.Join(e.dataDir, store.FileName), 0o600},
			{c.socket, 0o660 | os.ModeSocket},
		} {
			fi, err := os.Stat(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != tc.want {
				t.Errorf("%s: mode %v, want %v", tc.path, fi.Mode(), tc.want)
			}
		}
	})
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key into dir
// and returns their paths and a pool that trusts it.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "cubelet e2e"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// cubeManagerEvent is a TaskEvent as the book's manager marshals it.
func cubeManagerEvent(taskID, image string) string {
	return cubeEvent(taskID, image, 1, "")
}

// send makes one request with client and returns the code and body; a
// header "Host" sets the request's Host.
func send(t *testing.T, client *http.Client, method, url, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// refusedCount reads cubelet_http_refused_total{reason} from /metrics.
func refusedCount(t *testing.T, c *cubelet, reason string) float64 {
	t.Helper()
	code, body := send(t, c.client, http.MethodGet, c.base+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	prefix := `cubelet_http_refused_total{reason="` + reason + `"} `
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", prefix)
	return 0
}

// The attacks a web page can make through a visitor's browser, against
// the unauthenticated TCP port a Cube manager uses (which a browser can
// reach) and the socket: each is refused, counted, and creates nothing;
// the book's manager request shape still gets 201 on that port.
func TestE2E_Security_BrowserAttacks_CreateNothing_CubeManagerStillServed(t *testing.T) {
	e := newEnv(t)
	cubeAddr := freeAddr(t)
	c := e.start("--cube-insecure-addr", cubeAddr)
	tcp := &http.Client{Timeout: 10 * time.Second}
	cubeURL := "http://" + cubeAddr
	id := "3d7c9a04-5d2d-4731-b5c9-a97e9832d021"
	event := cubeManagerEvent(id, e.image)

	for _, tc := range []struct {
		name, method, url, body string
		header                  []string
		code                    int
	}{
		{"CSRF text/plain POST /tasks", "POST", cubeURL + "/tasks", event, []string{"Content-Type", "text/plain", "Origin", "http://evil.example"}, 403},
		{"CSRF form POST /tasks, no Origin", "POST", cubeURL + "/tasks", event, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415},
		{"foreign Origin with JSON", "POST", cubeURL + "/tasks", event, []string{"Content-Type", "application/json", "Origin", "http://evil.example"}, 403},
		{"DNS rebinding POST", "POST", cubeURL + "/tasks", event, []string{"Content-Type", "application/json", "Host", "attacker.com"}, 403},
		{"DNS rebinding GET", "GET", cubeURL + "/tasks", "", []string{"Host", "evil.example:" + strings.Split(cubeAddr, ":")[1]}, 403},
		{"foreign IP Host", "GET", cubeURL + "/tasks", "", []string{"Host", "10.0.0.1"}, 403},
		{"v1 is not on the Cube port", "PUT", cubeURL + "/v1/tasks/web", `{"spec":{"image":"` + e.image + `"}}`, []string{"Content-Type", "application/json"}, 404},
		{"metrics are not on the Cube port", "GET", cubeURL + "/metrics", "", nil, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := send(t, tcp, tc.method, tc.url, tc.body, tc.header...)
			if code != tc.code {
				t.Fatalf("%d, want %d: %s", code, tc.code, body)
			}
			if code != 404 && !strings.Contains(body, fmt.Sprintf(`"HTTPStatusCode":%d`, code)) {
				t.Errorf("refusal not in Cube's error shape: %s", body)
			}
		})
	}
	// The same on the socket, through a local proxy that passes the
	// browser's headers on: v1 answers with a metav1.Status.
	for _, tc := range []struct {
		name   string
		header []string
		code   int
		reason string
	}{
		{"text/plain PUT", []string{"Content-Type", "text/plain"}, 415, "UnsupportedMediaType"},
		{"foreign Origin PUT", []string{"Content-Type", "application/json", "Origin", "http://evil.example"}, 403, "Forbidden"},
		{"foreign Host PUT", []string{"Content-Type", "application/json", "Host", "evil.example"}, 403, "Forbidden"},
	} {
		t.Run("socket "+tc.name, func(t *testing.T) {
			code, body := send(t, c.client, http.MethodPut, "http://localhost/v1/tasks/web", `{"spec":{"image":"`+e.image+`"}}`, tc.header...)
			if code != tc.code || !strings.Contains(body, `"reason":"`+tc.reason+`"`) {
				t.Fatalf("%d %s, want %d %s", code, body, tc.code, tc.reason)
			}
		})
	}
	if tasks := c.list(); len(tasks) != 0 {
		t.Fatalf("refused requests stored %d tasks", len(tasks))
	}
	if n := refusedCount(t, c, "host"); n < 4 {
		t.Errorf("cubelet_http_refused_total{reason=host} = %v, want at least 4", n)
	}
	if n := refusedCount(t, c, "origin"); n < 3 {
		t.Errorf("cubelet_http_refused_total{reason=origin} = %v, want at least 3", n)
	}
	if n := refusedCount(t, c, "content_type"); n < 2 {
		t.Errorf("cubelet_http_refused_total{reason=content_type} = %v, want at least 2", n)
	}

	// Cube's manager: http.Post(url, "application/json", body), then a
	// DELETE with no body and no Origin.
	resp, err := tcp.Post(cubeURL+"/tasks", "application/json", strings.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("manager POST /tasks = %d: %s", resp.StatusCode, data)
	}
	c.waitRunning(id)
	req, _ := http.NewRequest(http.MethodDelete, cubeURL+"/tasks/"+id, nil)
	if code, body := sendReq(t, tcp, req); code != http.StatusNoContent {
		t.Fatalf("manager DELETE = %d: %s", code, body)
	}
	if managed := e.managed(); len(managed) != 1 || managed[0].Labels[controller.LabelTask] != id {
		names := []string{}
		for _, m := range managed {
			names = append(names, m.Name)
		}
		t.Errorf("managed containers %v, want only the manager's task's", names)
	}
}

func sendReq(t *testing.T, client *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// An unprivileged local user (nobody) gets no container: the socket (mode
// 0660, root's) refuses the connection, as docker.sock does, and the TCP
// listener wants the token. The same curl as root works, so the refusal
// is the user's and not the command's.
func TestE2E_Security_UnprivilegedLocalUser_CannotCreateATask(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test switches to user nobody and must run as root")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatalf("setpriv (util-linux) is needed: %v", err)
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("curl is needed: %v", err)
	}
	e := newEnv(t)
	_, tokenFile := writeToken(t, t.TempDir())
	addr := freeAddr(t)
	c := e.start("--addr", addr, "--token-file", tokenFile)

	body := `{"spec":{"image":"` + e.image + `"}}`
	curlArgs := func(target string, extra ...string) []string {
		return append([]string{"-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"}, append(extra, target)...)
	}
	run := func(asNobody bool, args ...string) (string, int) {
		var cmd *exec.Cmd
		if asNobody {
			cmd = exec.Command(setpriv, append([]string{"--reuid", "nobody", "--regid", "nogroup", "--clear-groups", curl}, args...)...)
		} else {
			cmd = exec.Command(curl, args...)
		}
		out, err := cmd.Output()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("%v: %v", cmd.Args, err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	put := []string{"-X", "PUT", "-H", "Content-Type: application/json", "--data", body}

	if code, exit := run(false, curlArgs("http://localhost/v1/tasks", "--unix-socket", c.socket)...); code != "200" {
		t.Fatalf("control: root's curl on the socket answered %q (exit %d), want 200", code, exit)
	}
	if code, exit := run(true, curlArgs("http://localhost/v1/tasks/intruder", append([]string{"--unix-socket", c.socket}, put...)...)...); code != "000" || exit != 7 {
		t.Errorf("nobody on the socket: HTTP %q, curl exit %d; want no connection (000, exit 7)", code, exit)
	}
	if code, _ := run(true, curlArgs("http://localhost/tasks", "--unix-socket", c.socket, "-X", "POST", "-H", "Content-Type: application/json",
		"--data", cubeManagerEvent("4e8c9a04-5d2d-4731-b5c9-a97e9832d021", e.image))...); code != "000" {
		t.Errorf("nobody's Cube POST on the socket: HTTP %q; want no connection", code)
	}
	if code, _ := run(true, curlArgs("http://"+addr+"/v1/tasks/intruder", put...)...); code != "401" {
		t.Errorf("nobody on TCP without the token: HTTP %q, want 401", code)
	}
	if tasks := c.list(); len(tasks) != 0 {
		t.Fatalf("nobody created %d tasks", len(tasks))
	}
	if managed := e.managed(); len(managed) != 0 {
		t.Fatalf("nobody got %d containers", len(managed))
	}
}

// Slow and idle connections are cut by the server's timeouts while
// /healthz keeps answering: headers sent one byte at a time, bodies sent
// one byte at a time (with a valid token, so the body is really read),
// and idle keep-alives, 40 of each.
func TestE2E_Security_SlowConnections_AreCut_WhileHealthzAnswers(t *testing.T) {
	e := newEnv(t)
	token, tokenFile := writeToken(t, t.TempDir())
	addr := freeAddr(t)
	const headerTimeout, readTimeout, idleTimeout = time.Second, 2 * time.Second, time.Second
	c := e.start("--addr", addr, "--token-file", tokenFile, "--read-header-timeout", headerTimeout.String(),
		"--read-timeout", readTimeout.String(), "--idle-timeout", idleTimeout.String())
	const each = 40
	body := `{"spec":{"image":"` + e.image + `"}}`
	kinds := map[string]struct{ head, rest string }{
		"header": {"GET /v1/tasks HTTP/1.1\r\nHost: localhost\r\n", strings.Repeat("X-Slow: 1\r\n", 10)},
		"body": {fmt.Sprintf("PUT /v1/tasks/slow HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", token, len(body)), body},
		"idle": {"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", ""},
	}
	type result struct {
		kind string
		took time.Duration
		err  error
	}
	results := make(chan result, 3*each)
	start := time.Now()
	for kind, k := range kinds {
		for range each {
			go func() {
				took, err := holdSlow(addr, k.head, k.rest, 500*time.Millisecond)
				results <- result{kind, took, err}
			}()
		}
	}
	// While they are held, a probe still answers at once.
	healthz := &http.Client{Timeout: 2 * time.Second}
	for range 3 {
		resp, err := healthz.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatalf("/healthz with %d slow connections held: %v", 3*each, err)
		}
		resp.Body.Close()
	}
	// Cut within the timeout that applies, plus slack for a busy machine.
	bound := map[string]time.Duration{"header": headerTimeout, "body": readTimeout, "idle": idleTimeout}
	var longest time.Duration
	for range 3 * each {
		r := <-results
		if r.err != nil {
			t.Errorf("%s: %v", r.kind, r.err)
			continue
		}
		if r.took > bound[r.kind]+3*time.Second {
			t.Errorf("a slow %s connection was held %v; its timeout is %v", r.kind, r.took, bound[r.kind])
		}
		longest = max(longest, r.took)
	}
	t.Logf("%d slow connections all cut within %v (longest %v)", 3*each, time.Since(start), longest)
	if _, code := c.get("slow"); code != http.StatusNotFound {
		t.Errorf("a cut body was stored: GET %d", code)
	}
}

// holdSlow connects to addr, writes head, then one byte of rest per
// interval, and returns how long the server kept the connection open
// (counted from when it went quiet: the last byte of head for an idle
// keep-alive). It fails when the server keeps it for 20 s.
func holdSlow(addr, head, rest string, interval time.Duration) (time.Duration, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	started := time.Now()
	if _, err := io.WriteString(conn, head); err != nil {
		return 0, err
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := range len(rest) {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte{rest[i]}); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return 0, errors.New("still open after 20s")
	}
	return time.Since(started), nil
}
