package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/cubelet/cubelet/handlers"
)

// defaultSocket is where `cubelet serve` listens and the client looks by
// default (cli.DefaultServer).
const defaultSocket = "/run/cubelet/cubelet.sock"

// listenFlags are the flags that say where and how the API is served.
// The listeners, and why each is safe (docs/api.md, "Listeners"):
//   - the Unix socket, always: mode 0660, owner and group only, as Docker
//     guards docker.sock; no token, the file mode is the authentication;
//   - --addr, TCP, only with --token-file: on a TCP port, loopback
//     included, every local user and every browser could connect;
//   - --cube-insecure-addr, TCP, the Cube worker routes without a token,
//     because Cube's manager sends none: the operator's explicit choice.
type listenFlags struct {
	socket           string
	socketGroup      string
	cubeInsecureAddr string
	allowedHosts     []string
	maxConnections   int
	limits           handlers.ServerLimits
}

func (l *listenFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&l.socket, "socket", defaultSocket,
		"Unix socket the API is always served on, mode 0660: only its owner (the user cubelet runs as) and --socket-group may connect; the cubelet client's default")
	fs.StringVar(&l.socketGroup, "socket-group", "",
		"group (name or GID) that owns the socket and may use the API without a token (default: cubelet's own group)")
	fs.StringVar(&l.cubeInsecureAddr, "cube-insecure-addr", "",
		"HOST:PORT to serve the Cube worker API (/tasks, /stats) and the probes (/healthz, /readyz) on, over plain TCP WITHOUT authentication, for a Cube manager: "+
			"anyone who can reach ADDR can run containers on this host (root-equivalent); use only on a trusted network/loopback for a Cube manager")
	fs.StringArrayVar(&l.allowedHosts, "allowed-host", nil,
		"a further name or address clients may send as the HTTP Host (repeatable); localhost, loopback addresses and the address a connection arrived on are always accepted, other names are refused as DNS rebinding")
	fs.IntVar(&l.maxConnections, "max-connections", 1024,
		"most connections each listener holds at once, watches and log streams included; further clients wait in the kernel's accept queue")
	fs.DurationVar(&l.limits.ReadHeaderTimeout, "read-header-timeout", handlers.DefaultServerLimits.ReadHeaderTimeout,
		"time a client has to send a request's header")
	fs.DurationVar(&l.limits.ReadTimeout, "read-timeout", handlers.DefaultServerLimits.ReadTimeout,
		"time a client has to send a whole request, header and body (watches and log follows excepted)")
	fs.DurationVar(&l.limits.WriteTimeout, "write-timeout", handlers.DefaultServerLimits.WriteTimeout,
		"time a response may take to be written (watches and log follows excepted)")
	fs.DurationVar(&l.limits.IdleTimeout, "idle-timeout", handlers.DefaultServerLimits.IdleTimeout,
		"time an idle keep-alive connection is kept open")
}

// checkListenFlags refuses unsafe or contradictory listener flags before
// anything is created on disk.
func checkListenFlags(f serveFlags, token string) error {
	if f.listen.socket == "" {
		return errors.New("--socket must name a path: the API is always served on a Unix socket")
	}
	if f.addr != "" {
		if _, _, err := net.SplitHostPort(f.addr); err != nil {
			return fmt.Errorf("--addr %q: %w", f.addr, err)
		}
		if token == "" {
			return fmt.Errorf("refusing to listen on %s without --token-file: the API runs containers on this host, so it is root-equivalent, "+
				"and any local user (or a web page, through the browser) can reach a TCP port, loopback included; local clients use the Unix socket %s",
				f.addr, f.listen.socket)
		}
	}
	if f.tlsCert != "" && f.addr == "" {
		return errors.New("--tls-cert and --tls-key serve --addr, which is not set")
	}
	if f.listen.cubeInsecureAddr != "" {
		if _, _, err := net.SplitHostPort(f.listen.cubeInsecureAddr); err != nil {
			return fmt.Errorf("--cube-insecure-addr %q: %w", f.listen.cubeInsecureAddr, err)
		}
	}
	if f.listen.maxConnections < 1 {
		return fmt.Errorf("--max-connections %d: want at least 1", f.listen.maxConnections)
	}
	return nil
}

// apiServer is one HTTP server on one listener.
type apiServer struct {
	name     string
	server   *http.Server
	listener net.Listener
	tls      bool
}

// apiServers are every listener of the API. Close and Shutdown act on all
// of them, as http.Server's do on one.
type apiServers struct {
	servers []apiServer
	socket  *unixSocket
	tlsCert string
	tlsKey  string
}

// listen opens every listener the flags ask for, each with its own router
// (its own Host rules and routes) over the shared api config.
func listen(f serveFlags, api handlers.Config, token string, logger *slog.Logger) (*apiServers, error) {
	s := &apiServers{tlsCert: f.tlsCert, tlsKey: f.tlsKey}
	add := func(name string, l net.Listener, cfg handlers.Config, useTLS bool) {
		cfg.AllowedHosts = f.listen.allowedHosts
		srv := handlers.NewServer(handlers.NewRouter(cfg), f.listen.limits, logger.With("listener", name))
		if useTLS {
			srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		s.servers = append(s.servers, apiServer{name: name, server: srv, listener: limitListener(l, f.listen.maxConnections), tls: useTLS})
	}

	sock, err := listenUnix(f.listen.socket, f.listen.socketGroup)
	if err != nil {
		return nil, err
	}
	s.socket = sock
	// The socket's file mode is its authentication, as docker.sock's is.
	unixCfg := api
	unixCfg.Token = ""
	add("unix", sock.listener, unixCfg, false)

	if f.addr != "" {
		l, err := net.Listen("tcp", f.addr)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("listen on --addr %s: %w", f.addr, err)
		}
		tcpCfg := api
		tcpCfg.Token = token
		tcpCfg.ListenHost, _, _ = net.SplitHostPort(f.addr)
		add("tcp", l, tcpCfg, f.tlsCert != "")
	}
	if f.listen.cubeInsecureAddr != "" {
		l, err := net.Listen("tcp", f.listen.cubeInsecureAddr)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("listen on --cube-insecure-addr %s: %w", f.listen.cubeInsecureAddr, err)
		}
		cubeCfg := api
		cubeCfg.Token = ""
		cubeCfg.CubeOnly = true
		cubeCfg.ListenHost, _, _ = net.SplitHostPort(f.listen.cubeInsecureAddr)
		add("cube-insecure", l, cubeCfg, false)
		logger.Warn("serving the Cube worker API without authentication: whoever reaches this address can run containers on this host",
			"addr", l.Addr().String())
	}
	return s, nil
}

// serve runs every server; the channel yields the first one's failure.
func (s *apiServers) serve() <-chan error {
	errs := make(chan error, len(s.servers))
	for _, a := range s.servers {
		go func() {
			var err error
			if a.tls {
				err = a.server.ServeTLS(a.listener, s.tlsCert, s.tlsKey)
			} else {
				err = a.server.Serve(a.listener)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("%s listener %s: %w", a.name, a.listener.Addr(), err)
			}
		}()
	}
	return errs
}

// addrs describes the listeners for the startup log line.
func (s *apiServers) addrs() []string {
	var out []string
	for _, a := range s.servers {
		out = append(out, a.name+"="+a.listener.Addr().String())
	}
	return out
}

// Close closes every listener and connection at once.
func (s *apiServers) Close() error {
	var errs []error
	for _, a := range s.servers {
		errs = append(errs, a.server.Close())
		// A server that never reached Serve does not know its listener.
		if err := a.listener.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if s.socket != nil {
		errs = append(errs, s.socket.remove())
	}
	return errors.Join(errs...)
}

// Shutdown stops accepting and waits for in-flight requests, on every
// listener at once.
func (s *apiServers) Shutdown(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(s.servers))
	for i, a := range s.servers {
		wg.Go(func() { errs[i] = a.server.Shutdown(ctx) })
	}
	wg.Wait()
	if s.socket != nil {
		errs = append(errs, s.socket.remove())
	}
	return errors.Join(errs...)
}

// unixSocket is the API's socket file and its listener.
type unixSocket struct {
	path     string
	listener *net.UnixListener
	// file identifies the socket cubelet created, so that shutdown removes
	// only its own and never a successor's.
	file os.FileInfo
	once sync.Once
}

// listenUnix listens on path with mode 0660, owned by cubelet's user and
// group (or group, when named). The socket is created under a temporary
// name, given its mode, then renamed into place, so no client can connect
// while it is still open to others, whatever the umask. A live socket at
// path (another cubelet answers on it) is refused; a stale one is replaced.
func listenUnix(path, group string) (*unixSocket, error) {
	gid, err := lookupGroup(group)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create the socket's directory %s (run as root, or choose --socket): %w", dir, err)
	}
	if err := clearStaleSocket(path); err != nil {
		return nil, err
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d.tmp", filepath.Base(path), os.Getpid()))
	_ = os.Remove(tmp)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on socket %s: %w", path, err)
	}
	// The listener would unlink tmp, a name that no longer exists after the
	// rename; remove() unlinks the real path instead.
	l.SetUnlinkOnClose(false)
	fail := func(err error) (*unixSocket, error) {
		_ = l.Close()
		_ = os.Remove(tmp)
		return nil, err
	}
	if gid >= 0 {
		if err := os.Chown(tmp, -1, gid); err != nil {
			return fail(fmt.Errorf("give socket %s to group %s: %w", path, group, err))
		}
	}
	if err := os.Chmod(tmp, 0o660); err != nil {
		return fail(fmt.Errorf("chmod socket %s: %w", path, err))
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(fmt.Errorf("move socket into place at %s: %w", path, err))
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(fmt.Errorf("stat socket %s: %w", path, err))
	}
	return &unixSocket{path: path, listener: l, file: fi}, nil
}

// clearStaleSocket leaves path free to listen on: absent, or a socket no
// process answers on (left by a cubelet that was killed), which it removes.
func clearStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("inspect socket path %s: %w", path, err)
	case fi.Mode()&os.ModeSocket == 0:
		return fmt.Errorf("%s exists and is not a socket: remove it or choose another --socket", path)
	}
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err == nil {
		_ = conn.Close()
		return fmt.Errorf("another cubelet serves %s: stop it, or give this one another --socket", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("socket %s exists and cannot be probed: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}

// remove closes the listener and unlinks the socket, once, if it is still
// the one cubelet created.
func (u *unixSocket) remove() error {
	var err error
	u.once.Do(func() {
		_ = u.listener.Close()
		if fi, statErr := os.Lstat(u.path); statErr == nil && os.SameFile(fi, u.file) {
			if rmErr := os.Remove(u.path); rmErr != nil {
				err = fmt.Errorf("remove socket %s: %w", u.path, rmErr)
			}
		}
	})
	return err
}

// lookupGroup resolves a group name or GID; "" is -1, keep the process's.
func lookupGroup(group string) (int, error) {
	if group == "" {
		return -1, nil
	}
	if gid, err := strconv.Atoi(group); err == nil && gid >= 0 {
		return gid, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, fmt.Errorf("--socket-group %q: %w", group, err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, fmt.Errorf("--socket-group %q has GID %q: %w", group, g.Gid, err)
	}
	return gid, nil
}

// limitListener holds at most n connections at once: Accept waits for a
// free slot, so further clients wait in the kernel's backlog instead of
// costing a file descriptor and a goroutine each. Every connection counts,
// streams included; the server's timeouts free the slots of slow and idle
// clients.
func limitListener(l net.Listener, n int) net.Listener {
	return &connLimiter{Listener: l, slots: make(chan struct{}, n), done: make(chan struct{})}
}

type connLimiter struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *connLimiter) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
}

// Close also wakes an Accept waiting for a slot.
func (l *connLimiter) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite keeps net/http's graceful close (half-close, then drain)
// working through the wrapper.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
