package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// DefaultServer is where the client looks for cubelet when neither --server
// nor CUBELET_SERVER says otherwise: `cubelet serve`'s default socket.
const DefaultServer = "unix:///run/cubelet/cubelet.sock"

// unixScheme prefixes a socket path in a server address.
const unixScheme = "unix://"

// MinTokenBytes is the shortest bearer token accepted: 256 bits when it is
// random, out of reach of guessing over the network.
const MinTokenBytes = 32

// ServerEnv names the environment variable that overrides DefaultServer.
const ServerEnv = "CUBELET_SERVER"

// requestTimeout bounds every request that is not a stream (watch, logs).
const requestTimeout = 30 * time.Second

// Client is a v1 API client for one cubelet server. Its zero value is not
// usable; build it with NewClient.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
	// socket is the Unix socket path when the server is "unix://PATH".
	socket string
}

// NewClient returns a client for server: "unix:///path/to/cubelet.sock",
// or a URL such as "https://node1:5556" (a bare "host:port" means http). A
// non-empty token is sent as a bearer token on every request.
func NewClient(server, token string) (*Client, error) {
	if path, ok := strings.CutPrefix(server, unixScheme); ok {
		return newUnixClient(path, token)
	}
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("server address %q: %w", server, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("server address %q: scheme must be http or https", server)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("server address %q has no host", server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	// No client-wide timeout: watches and log follows last as long as the
	// user wants. Unary calls get requestTimeout through their context.
	return &Client{base: u, token: token, http: &http.Client{}}, nil
}

// newUnixClient talks HTTP over the socket at path. Requests name the
// host "localhost", which is what cubelet's Host check accepts.
func newUnixClient(path, token string) (*Client, error) {
	if path == "" || !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("server address %q: want %s followed by an absolute socket path", unixScheme+path, unixScheme)
	}
	var dialer net.Dialer
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", path)
		},
	}
	return &Client{
		base:   &url.URL{Scheme: "http", Host: "localhost"},
		token:  token,
		http:   &http.Client{Transport: transport},
		socket: path,
	}, nil
}

// Server is the address the client talks to, as the user would write it.
func (c *Client) Server() string {
	if c.socket != "" {
		return unixScheme + c.socket
	}
	return c.base.String()
}

// Get returns the task named name.
func (c *Client) Get(ctx context.Context, name string) (*v1.Task, error) {
	var t v1.Task
	if _, err := c.call(ctx, http.MethodGet, taskPath(name), nil, nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// List returns the tasks matching the label selector ("" for all).
func (c *Client) List(ctx context.Context, selector string) (*v1.TaskList, error) {
	q := url.Values{}
	if selector != "" {
		q.Set("labelSelector", selector)
	}
	var l v1.TaskList
	if _, err := c.call(ctx, http.MethodGet, "/v1/tasks", q, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Put creates or replaces the task; created reports a 201.
func (c *Client) Put(ctx context.Context, t *v1.Task) (out *v1.Task, created bool, err error) {
	body, err := json.Marshal(t)
	if err != nil {
		return nil, false, fmt.Errorf("encode task %s: %w", t.Name, err)
	}
	out = &v1.Task{}
	code, err := c.call(ctx, http.MethodPut, taskPath(t.Name), nil, body, out)
	if err != nil {
		return nil, false, err
	}
	return out, code == http.StatusCreated, nil
}

// Delete deletes the task. The server answers with the task as it is after
// the call: gone, or still there with a deletionTimestamp while the
// controller removes its containers.
func (c *Client) Delete(ctx context.Context, name string) (*v1.Task, error) {
	var t v1.Task
	if _, err := c.call(ctx, http.MethodDelete, taskPath(name), nil, nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// LogOptions select what Logs streams.
type LogOptions struct {
	Follow     bool
	Tail       int // lines from the end; negative for all
	Timestamps bool
	// Previous reads the attempt before the current one.
	Previous bool
}

// Logs streams the output of the task's current container. The caller
// closes the reader; cancelling ctx ends a follow.
func (c *Client) Logs(ctx context.Context, name string, opts LogOptions) (io.ReadCloser, error) {
	q := url.Values{}
	if opts.Follow {
		q.Set("follow", "true")
	}
	if opts.Tail >= 0 {
		q.Set("tail", strconv.Itoa(opts.Tail))
	}
	if opts.Timestamps {
		q.Set("timestamps", "true")
	}
	if opts.Previous {
		q.Set("previous", "true")
	}
	return c.stream(ctx, taskPath(name)+"/logs", q)
}

// call sends one unary request and decodes a 2xx JSON answer into out.
func (c *Client) call(ctx context.Context, method, path string, q url.Values, body []byte, out any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := c.do(ctx, method, path, q, body)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, statusError(resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode response: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// stream sends a GET whose body the caller reads as it arrives.
func (c *Client) stream(ctx context.Context, path string, q url.Values) (io.ReadCloser, error) {
	resp, err := c.do(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, statusError(resp.StatusCode, data)
	}
	return resp.Body, nil
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte) (*http.Response, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		return nil, fmt.Errorf("cannot reach cubelet at %s (set --server or %s)%s: %w", c.Server(), ServerEnv, c.hint(err), err)
	}
	return resp, nil
}

// hint explains the two failures a socket user meets most.
func (c *Client) hint(err error) string {
	switch {
	case c.socket == "":
		return ""
	case errors.Is(err, fs.ErrPermission):
		return "; the socket admits its owner and group only: run as root (sudo) or as a member of cubelet's --socket-group"
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return "; is `cubelet serve` running?"
	}
	return ""
}

func taskPath(name string) string { return "/v1/tasks/" + url.PathEscape(name) }

// ReadTokenFile reads a bearer token file, the format both `cubelet serve
// --token-file` and the client commands take: the token, surrounding
// whitespace ignored. An empty path means no token.
//
// The token is root on the host, so both sides refuse a file that others
// may read or write (any group or other permission bit), and a token
// shorter than MinTokenBytes. The client refuses rather than warns: a
// token in a readable file is already every local user's, and a warning
// on every command would be read once and then ignored.
func ReadTokenFile(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read --token-file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("read --token-file %s: %w", path, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("--token-file %s has mode %#o: group and others may read or change the token, which runs containers as root; run chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return "", fmt.Errorf("read --token-file %s: %w", path, err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("--token-file %s is empty", path)
	}
	if len(token) < MinTokenBytes {
		return "", fmt.Errorf("--token-file %s holds %d bytes; a token needs at least %d (for example: head -c 32 /dev/urandom | base64 > %s)", path, len(token), MinTokenBytes, path)
	}
	return token, nil
}
