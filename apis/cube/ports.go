package cube

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// portsToV1 turns Docker's port set plus Cube's bindings into v1 port
// mappings, sorted so that the same Cube task always gives the same spec
// (maps have no order, and a reordered spec would be a new generation). A
// binding for a port missing from ExposedPorts exposes it too: Docker
// publishes a bound port whether or not the image exposes it.
func portsToV1(exposed PortSet, bindings map[string]string) ([]v1.PortMapping, error) {
	byKey := map[string]v1.PortMapping{}
	for key := range exposed {
		p, err := parsePort(key)
		if err != nil {
			return nil, fmt.Errorf("ExposedPorts: %w", err)
		}
		byKey[portKey(p.ContainerPort, p.Protocol)] = p
	}
	for key, value := range bindings {
		p, err := parsePort(key)
		if err != nil {
			return nil, fmt.Errorf("PortBindings: %w", err)
		}
		hostIP, hostPort, err := parseHostPort(value)
		if err != nil {
			return nil, fmt.Errorf("PortBindings[%q]: %w", key, err)
		}
		p.HostIP, p.HostPort = hostIP, hostPort
		byKey[portKey(p.ContainerPort, p.Protocol)] = p
	}
	if len(byKey) == 0 {
		return nil, nil
	}
	ports := make([]v1.PortMapping, 0, len(byKey))
	for _, p := range byKey {
		ports = append(ports, p)
	}
	slices.SortFunc(ports, func(a, b v1.PortMapping) int {
		return cmp.Or(cmp.Compare(a.ContainerPort, b.ContainerPort), cmp.Compare(a.Protocol, b.Protocol))
	})
	return ports, nil
}

// parsePort reads Docker's "port/proto" ("80/tcp"; a bare "80" is TCP, as
// in Docker).
func parsePort(key string) (v1.PortMapping, error) {
	num, proto, _ := strings.Cut(key, "/")
	port, err := strconv.ParseUint(num, 10, 16)
	if err != nil || port == 0 {
		return v1.PortMapping{}, fmt.Errorf("port %q: want \"port/protocol\" with a port from 1 to 65535, such as \"80/tcp\"", key)
	}
	p := v1.PortMapping{ContainerPort: int32(port), Protocol: v1.ProtocolTCP}
	switch strings.ToLower(proto) {
	case "", "tcp":
	case "udp":
		p.Protocol = v1.ProtocolUDP
	default:
		return v1.PortMapping{}, fmt.Errorf("port %q: protocol %q is not supported (tcp or udp)", key, proto)
	}
	return p, nil
}

// parseHostPort reads a binding's value: "" (any free port), "8080", or
// "127.0.0.1:8080".
func parseHostPort(value string) (string, int32, error) {
	if value == "" {
		return "", 0, nil
	}
	ip, num := "", value
	if strings.Contains(value, ":") {
		var err error
		if ip, num, err = net.SplitHostPort(value); err != nil {
			return "", 0, fmt.Errorf("host port %q: %w", value, err)
		}
	}
	port, err := strconv.ParseUint(num, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("host port %q: want a port from 0 to 65535", value)
	}
	return ip, int32(port), nil
}

// portKey is Docker's spelling of a port: "80/tcp".
func portKey(port int32, proto v1.Protocol) string {
	if proto == "" {
		proto = v1.ProtocolTCP
	}
	return strconv.Itoa(int(port)) + "/" + strings.ToLower(string(proto))
}

// portsFromV1 is the inverse of portsToV1: ExposedPorts, and PortBindings
// for the ports with a fixed host port. Both are nil when empty, as Cube
// marshals a task without ports.
func portsFromV1(ports []v1.PortMapping) (PortSet, map[string]string) {
	if len(ports) == 0 {
		return nil, nil
	}
	exposed := make(PortSet, len(ports))
	var bindings map[string]string
	for _, p := range ports {
		k := portKey(p.ContainerPort, p.Protocol)
		exposed[k] = struct{}{}
		if p.HostPort == 0 && p.HostIP == "" {
			continue
		}
		if bindings == nil {
			bindings = map[string]string{}
		}
		host := strconv.Itoa(int(p.HostPort))
		if p.HostIP != "" {
			host = net.JoinHostPort(p.HostIP, host)
		}
		bindings[k] = host
	}
	return exposed, bindings
}

// hostPortsFromV1 gives status.hostPorts in Docker's port-map shape.
func hostPortsFromV1(hostPorts []v1.HostPort) PortMap {
	if len(hostPorts) == 0 {
		return nil
	}
	m := make(PortMap, len(hostPorts))
	for _, hp := range hostPorts {
		k := portKey(hp.ContainerPort, hp.Protocol)
		m[k] = append(m[k], PortBinding{HostIP: hp.HostIP, HostPort: strconv.Itoa(int(hp.HostPort))})
	}
	return m
}
