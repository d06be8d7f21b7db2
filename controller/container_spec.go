package controller

import (
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/runtime"
)

// containerSpec translates a task into the engine's terms for one attempt of
// its current run: command replaces the ENTRYPOINT and args the CMD, as in
// Kubernetes.
func containerSpec(instance string, task *v1.Task, attempt int32) runtime.ContainerSpec {
	s := &task.Spec
	hash := specHash(s)
	spec := runtime.ContainerSpec{
		Name:        containerName(instance, task, attempt),
		Image:       s.Image,
		Entrypoint:  s.Command,
		Cmd:         s.Args,
		WorkingDir:  s.WorkingDir,
		Labels:      containerLabels(instance, task, hash, attempt),
		StopTimeout: graceOf(task),
	}
	for _, e := range s.Env {
		spec.Env = append(spec.Env, e.Name+"="+e.Value)
	}
	for _, p := range s.Ports {
		proto := "tcp"
		if p.Protocol == v1.ProtocolUDP {
			proto = "udp"
		}
		spec.Ports = append(spec.Ports, runtime.PortBinding{
			ContainerPort: int(p.ContainerPort), Protocol: proto, HostIP: p.HostIP, HostPort: int(p.HostPort),
		})
	}
	if cpu := s.Resources.CPU; cpu != nil {
		spec.NanoCPUs = cpu.MilliValue() * int64(time.Millisecond)
	}
	if mem := s.Resources.Memory; mem != nil {
		spec.Memory = mem.Value()
	}
	return spec
}
