package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

func TestE2E_Security_DefaultListenAddressIsLoopback(t *testing.T) {
	out, code := runCubelet(t, "serve", "--help")
	if code != 0 {
		t.Fatalf("serve --help: exit %d\n%s", code, out)
	}
	var addrLine string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "--addr ") {
			addrLine = line
		}
	}
	if !strings.Contains(addrLine, `(default "127.0.0.1:5556")`) {
		t.Fatalf("--addr default is not loopback: %q", addrLine)
	}
}

func TestE2E_Security_NonLoopbackWithoutToken_RefusesToStart(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		t.Run(addr, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			out, code := runCubelet(t, "serve", "--addr", addr, "--data-dir", dataDir)
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

// TestE2E_Security_TokenTLSAndFileModes runs cubelet on all interfaces with
// a bearer token and a self-signed TLS certificate, over a data dir it has
// to create: requests need the token (the probes excepted), HTTPS is
// served and plain HTTP is not, and the store is private to its user.
func TestE2E_Security_TokenTLSAndFileModes(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	e.dataDir = filepath.Join(dir, "state", "cubelet")
	token := "s3cret-" + time.Now().Format("150405.000000")
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
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
