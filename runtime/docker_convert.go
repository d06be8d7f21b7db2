package runtime

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"
)

// This file translates between the plain types of this package and the
// Docker Engine API's. It is the only place that knows both shapes.

// dockerConfig turns a ContainerSpec into Docker's create request.
//
// Entrypoint and Cmd keep their nil-ness: nil is sent as JSON null and keeps
// the image's value, while a non-nil empty slice clears it (the daemon's
// rule), so callers say exactly what they mean.
//
// A port with HostPort 0 is published with an empty host port so the daemon
// picks a free one; inspect reports what it picked.
//
// A memory limit also caps memory+swap at the same value, as Kubernetes
// does, so a process over its limit is OOM-killed instead of swapping.
func dockerConfig(spec ContainerSpec) (*container.Config, *container.HostConfig, error) {
	exposed := nat.PortSet{}
	bindings := nat.PortMap{}
	for _, p := range spec.Ports {
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" {
			return nil, nil, fmt.Errorf("port %d: protocol %q is not tcp or udp", p.ContainerPort, p.Protocol)
		}
		if p.ContainerPort < 1 || p.ContainerPort > 65535 {
			return nil, nil, fmt.Errorf("container port %d out of range", p.ContainerPort)
		}
		if p.HostPort < 0 || p.HostPort > 65535 {
			return nil, nil, fmt.Errorf("host port %d out of range", p.HostPort)
		}
		port := nat.Port(strconv.Itoa(p.ContainerPort) + "/" + proto)
		hostPort := ""
		if p.HostPort != 0 {
			hostPort = strconv.Itoa(p.HostPort)
		}
		exposed[port] = struct{}{}
		bindings[port] = append(bindings[port], nat.PortBinding{HostIP: p.HostIP, HostPort: hostPort})
	}

	cfg := &container.Config{
		Image:      spec.Image,
		Entrypoint: spec.Entrypoint,
		Cmd:        spec.Cmd,
		Env:        spec.Env,
		WorkingDir: spec.WorkingDir,
		Labels:     spec.Labels,
	}
	if len(exposed) > 0 {
		cfg.ExposedPorts = exposed
	}
	if spec.StopTimeout > 0 {
		s := graceSeconds(spec.StopTimeout)
		cfg.StopTimeout = &s
	}

	hostCfg := &container.HostConfig{
		PortBindings:  bindings,
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		Resources: container.Resources{
			NanoCPUs: spec.NanoCPUs,
			Memory:   spec.Memory,
		},
	}
	if spec.Memory > 0 {
		hostCfg.Resources.MemorySwap = spec.Memory
	}
	return cfg, hostCfg, nil
}

// containerFromInspect turns Docker's inspect response into a Container.
func containerFromInspect(r container.InspectResponse) Container {
	var c Container
	if b := r.ContainerJSONBase; b != nil {
		c.ID = b.ID
		c.Name = strings.TrimPrefix(b.Name, "/")
		c.CreatedAt = parseDockerTime(b.Created)
		if s := b.State; s != nil {
			c.State = ContainerState(s.Status)
			c.ExitCode = s.ExitCode
			c.OOMKilled = s.OOMKilled
			c.Error = s.Error
			c.Pid = s.Pid
			c.StartedAt = parseDockerTime(s.StartedAt)
			c.FinishedAt = parseDockerTime(s.FinishedAt)
		}
		c.Image = b.Image // the image ID; replaced by the reference below
	}
	if cfg := r.Config; cfg != nil {
		c.Image = cfg.Image // the reference the container was created from
		c.Labels = cfg.Labels
	}
	if ns := r.NetworkSettings; ns != nil {
		c.Ports = portsFromMap(ns.Ports)
		c.IP = containerIP(ns)
	}
	return c
}

// containerIP is the container's IPv4 address on the first network that
// gives it one, in name order so that it is stable; "bridge" (Docker's
// default network) wins when present.
func containerIP(ns *container.NetworkSettings) string {
	if ep := ns.Networks["bridge"]; ep != nil && ep.IPAddress != "" {
		return ep.IPAddress
	}
	for _, name := range slices.Sorted(maps.Keys(ns.Networks)) {
		if ep := ns.Networks[name]; ep != nil && ep.IPAddress != "" {
			return ep.IPAddress
		}
	}
	return ""
}

// portsFromMap lists the published bindings of a port map, sorted so that
// the same bindings always compare equal. Exposed ports that are not
// published have no bindings and are left out. Docker binds IPv4 and IPv6
// separately, so one published port may appear twice, once per host IP.
func portsFromMap(m nat.PortMap) []PortBinding {
	var out []PortBinding
	for port, bindings := range m {
		for _, b := range bindings {
			hostPort, err := strconv.Atoi(b.HostPort)
			if err != nil {
				continue
			}
			out = append(out, PortBinding{
				ContainerPort: port.Int(),
				Protocol:      port.Proto(),
				HostIP:        b.HostIP,
				HostPort:      hostPort,
			})
		}
	}
	slices.SortFunc(out, func(a, b PortBinding) int {
		return cmp.Or(
			cmp.Compare(a.ContainerPort, b.ContainerPort),
			cmp.Compare(a.Protocol, b.Protocol),
			cmp.Compare(a.HostIP, b.HostIP),
			cmp.Compare(a.HostPort, b.HostPort),
		)
	})
	return out
}

// parseDockerTime parses the RFC 3339 times of Docker's inspect output.
// Docker writes "0001-01-01T00:00:00Z" for "never"; that, an empty string
// and anything unparsable become the zero time.
func parseDockerTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
