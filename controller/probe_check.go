package controller

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
)

// execer runs a command in a container: what exec probes need of the
// engine (runtime.Docker through the Engine API, runtime/fake in memory).
type execer interface {
	Exec(ctx context.Context, id string, cmd []string) (runtime.ExecResult, error)
}

// probeChecker runs one probe against one container and says whether it
// passed: nil, or an error whose text is the probe's message.
type probeChecker struct {
	exec execer
}

// httpProbeClient is shared by every HTTP probe: no keep-alive (each probe
// is a fresh connection, as kubelet's are, so a hung server is noticed),
// no redirects followed (a 3xx is a success, as kubelet counts it), and no
// certificate check for HTTPS, as kubelet does not check either.
var httpProbeClient = &http.Client{
	Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // kubelet's rule for HTTPS probes
		Proxy:             nil,                                   // never through a proxy: the container is local
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (c *probeChecker) run(ctx context.Context, h *v1.ProbeHandler, ct *runtime.Container, ports []v1.PortMapping) error {
	switch {
	case h.HTTPGet != nil:
		return c.httpGet(ctx, h.HTTPGet, ct, ports)
	case h.TCPSocket != nil:
		addr, err := probeAddress(h.TCPSocket.Port, ct, ports)
		if err != nil {
			return err
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("tcp probe: %w", err)
		}
		return conn.Close()
	case h.Exec != nil:
		res, err := c.exec.Exec(ctx, ct.ID, h.Exec.Command)
		if err != nil {
			return fmt.Errorf("exec probe: %w", err)
		}
		if res.ExitCode != 0 {
			out := strings.TrimSpace(string(res.Output))
			if len(out) > 256 {
				out = out[:256]
			}
			return fmt.Errorf("exec probe: %q exited %d: %s", h.Exec.Command, res.ExitCode, out)
		}
		return nil
	}
	return errors.New("probe has no handler")
}

func (c *probeChecker) httpGet(ctx context.Context, g *v1.HTTPGetAction, ct *runtime.Container, ports []v1.PortMapping) error {
	addr, err := probeAddress(g.Port, ct, ports)
	if err != nil {
		return err
	}
	scheme := "http"
	if g.Scheme == v1.URISchemeHTTPS {
		scheme = "https"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+g.Path, nil)
	if err != nil {
		return fmt.Errorf("http probe: %w", err)
	}
	req.Header.Set("User-Agent", "cubelet-probe")
	for _, h := range g.HTTPHeaders {
		req.Header.Add(h.Name, h.Value)
	}
	resp, err := httpProbeClient.Do(req)
	if err != nil {
		return fmt.Errorf("http probe: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("http probe: GET %s: status %d", g.Path, resp.StatusCode)
	}
	return nil
}

// probeAddress is where a probe of port reaches the container: its address
// on Docker's network and the container port, as kubelet probes a pod's
// IP; or, for a container without one, the host port it is published on.
func probeAddress(port intstr.IntOrString, ct *runtime.Container, ports []v1.PortMapping) (string, error) {
	number := int(port.IntVal)
	if port.Type == intstr.String {
		number = 0
		for _, p := range ports {
			if p.Name == port.StrVal {
				number = int(p.ContainerPort)
				break
			}
		}
		if number == 0 {
			return "", fmt.Errorf("probe port %q names none of spec.ports", port.StrVal)
		}
	}
	if ct.IP != "" {
		return net.JoinHostPort(ct.IP, strconv.Itoa(number)), nil
	}
	for _, b := range ct.Ports {
		if b.ContainerPort == number && b.Protocol == "tcp" {
			host := b.HostIP
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			return net.JoinHostPort(host, strconv.Itoa(b.HostPort)), nil
		}
	}
	return "", fmt.Errorf("container %s has no network address and does not publish port %d", shortID(ct.ID), number)
}
