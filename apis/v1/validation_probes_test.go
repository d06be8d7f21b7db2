package v1

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func probeTask(mutate func(*TaskSpec)) *Task {
	t := &Task{Spec: TaskSpec{Image: "nginx:1.27", Ports: []PortMapping{{Name: "http", ContainerPort: 8080}}}}
	t.Name = "web"
	mutate(&t.Spec)
	SetDefaults(t)
	return t
}

func TestSetDefaults_Probe_TakesKubernetesDefaults(t *testing.T) {
	task := probeTask(func(s *TaskSpec) {
		s.LivenessProbe = &Probe{ProbeHandler: ProbeHandler{HTTPGet: &HTTPGetAction{Port: intstr.FromInt32(8080)}}}
	})
	p := task.Spec.LivenessProbe
	if p.TimeoutSeconds != 1 || p.PeriodSeconds != 10 || p.SuccessThreshold != 1 || p.FailureThreshold != 3 ||
		p.InitialDelaySeconds != 0 || p.HTTPGet.Path != "/" || p.HTTPGet.Scheme != URISchemeHTTP {
		t.Fatalf("defaults = %+v %+v", p, p.HTTPGet)
	}
}

func TestValidateTask_Probes(t *testing.T) {
	httpGet := func(port intstr.IntOrString) ProbeHandler {
		return ProbeHandler{HTTPGet: &HTTPGetAction{Path: "/healthz", Port: port}}
	}
	cases := []struct {
		name   string
		mutate func(*TaskSpec)
		field  string // "" when valid
	}{
		{"httpGet by number", func(s *TaskSpec) { s.LivenessProbe = &Probe{ProbeHandler: httpGet(intstr.FromInt32(8080))} }, ""},
		{"httpGet by port name", func(s *TaskSpec) { s.ReadinessProbe = &Probe{ProbeHandler: httpGet(intstr.FromString("http"))} }, ""},
		{"tcpSocket", func(s *TaskSpec) {
			s.StartupProbe = &Probe{ProbeHandler: ProbeHandler{TCPSocket: &TCPSocketAction{Port: intstr.FromInt32(80)}}}
		}, ""},
		{"exec", func(s *TaskSpec) {
			s.LivenessProbe = &Probe{ProbeHandler: ProbeHandler{Exec: &ExecAction{Command: []string{"/workload", "--probe-exit", "0"}}}}
		}, ""},
		{"unknown port name", func(s *TaskSpec) { s.LivenessProbe = &Probe{ProbeHandler: httpGet(intstr.FromString("metrics"))} }, "spec.livenessProbe.httpGet.port"},
		{"port zero", func(s *TaskSpec) {
			s.LivenessProbe = &Probe{ProbeHandler: ProbeHandler{TCPSocket: &TCPSocketAction{Port: intstr.FromInt32(0)}}}
		}, "spec.livenessProbe.tcpSocket.port"},
		{"no handler", func(s *TaskSpec) { s.LivenessProbe = &Probe{} }, "spec.livenessProbe"},
		{"two handlers", func(s *TaskSpec) {
			h := httpGet(intstr.FromInt32(80))
			h.TCPSocket = &TCPSocketAction{Port: intstr.FromInt32(80)}
			s.ReadinessProbe = &Probe{ProbeHandler: h}
		}, "spec.readinessProbe"},
		{"empty exec", func(s *TaskSpec) { s.LivenessProbe = &Probe{ProbeHandler: ProbeHandler{Exec: &ExecAction{}}} }, "spec.livenessProbe.exec.command"},
		{"liveness successThreshold 2", func(s *TaskSpec) {
			s.LivenessProbe = &Probe{ProbeHandler: httpGet(intstr.FromInt32(80)), SuccessThreshold: 2}
		}, "spec.livenessProbe.successThreshold"},
		{"readiness successThreshold 2", func(s *TaskSpec) {
			s.ReadinessProbe = &Probe{ProbeHandler: httpGet(intstr.FromInt32(80)), SuccessThreshold: 2}
		}, ""},
		{"negative period", func(s *TaskSpec) {
			s.ReadinessProbe = &Probe{ProbeHandler: httpGet(intstr.FromInt32(80)), PeriodSeconds: -1}
		}, "spec.readinessProbe.periodSeconds"},
		{"huge delay", func(s *TaskSpec) {
			s.ReadinessProbe = &Probe{ProbeHandler: httpGet(intstr.FromInt32(80)), InitialDelaySeconds: MaxProbeSeconds + 1}
		}, "spec.readinessProbe.initialDelaySeconds"},
		{"relative path", func(s *TaskSpec) {
			s.ReadinessProbe = &Probe{ProbeHandler: ProbeHandler{HTTPGet: &HTTPGetAction{Path: "healthz", Port: intstr.FromInt32(80)}}}
		}, "spec.readinessProbe.httpGet.path"},
		{"Host header", func(s *TaskSpec) {
			h := httpGet(intstr.FromInt32(80))
			h.HTTPGet.HTTPHeaders = []HTTPHeader{{Name: "host", Value: "x"}}
			s.ReadinessProbe = &Probe{ProbeHandler: h}
		}, "spec.readinessProbe.httpGet.httpHeaders[0]"},
		{"duplicate port name", func(s *TaskSpec) {
			s.Ports = append(s.Ports, PortMapping{Name: "http", ContainerPort: 9090})
		}, "spec.ports[1].name"},
		{"bad port name", func(s *TaskSpec) { s.Ports[0].Name = "Not_A_Name" }, "spec.ports[0].name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := ValidateTask(probeTask(tc.mutate))
			if tc.field == "" {
				if len(errs) > 0 {
					t.Fatalf("refused a valid probe: %v", errs.ToAggregate())
				}
				return
			}
			for _, e := range errs {
				if e.Field == tc.field {
					return
				}
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Field)
			}
			t.Fatalf("errors on %v, want one on %s", strings.Join(got, ", "), tc.field)
		})
	}
}
