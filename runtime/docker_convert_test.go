package runtime

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"
)

func TestDockerConfig_EntrypointAndCmd_KeepNilness(t *testing.T) {
	for _, tc := range []struct {
		name       string
		entrypoint []string
		cmd        []string
	}{
		{"nil keeps the image's", nil, nil},
		{"empty clears", []string{}, []string{}},
		{"set", []string{"/bin/x"}, []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := dockerConfig(ContainerSpec{Entrypoint: tc.entrypoint, Cmd: tc.cmd})
			if err != nil {
				t.Fatal(err)
			}
			if (cfg.Entrypoint == nil) != (tc.entrypoint == nil) || (cfg.Cmd == nil) != (tc.cmd == nil) {
				t.Fatalf("nil-ness lost: entrypoint %#v cmd %#v", cfg.Entrypoint, cfg.Cmd)
			}
			if !reflect.DeepEqual([]string(cfg.Entrypoint), tc.entrypoint) || !reflect.DeepEqual([]string(cfg.Cmd), tc.cmd) {
				t.Fatalf("got entrypoint %q cmd %q", cfg.Entrypoint, cfg.Cmd)
			}
		})
	}
}

func TestDockerConfig_PortsResourcesAndSafety(t *testing.T) {
	cfg, host, err := dockerConfig(ContainerSpec{
		Name:        "x",
		Image:       "img",
		Env:         []string{"A=1"},
		WorkingDir:  "/w",
		Labels:      map[string]string{"k": "v"},
		Ports:       []PortBinding{{ContainerPort: 80}, {ContainerPort: 53, Protocol: "UDP", HostIP: "127.0.0.1", HostPort: 5353}},
		NanoCPUs:    5e8,
		Memory:      64 << 20,
		StopTimeout: 1500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	wantExposed := nat.PortSet{"80/tcp": {}, "53/udp": {}}
	if !reflect.DeepEqual(cfg.ExposedPorts, wantExposed) {
		t.Errorf("exposed %v, want %v", cfg.ExposedPorts, wantExposed)
	}
	wantBindings := nat.PortMap{
		"80/tcp": {{HostIP: "", HostPort: ""}},
		"53/udp": {{HostIP: "127.0.0.1", HostPort: "5353"}},
	}
	if !reflect.DeepEqual(host.PortBindings, wantBindings) {
		t.Errorf("bindings %v, want %v", host.PortBindings, wantBindings)
	}
	if cfg.Image != "img" || cfg.WorkingDir != "/w" || cfg.Env[0] != "A=1" || cfg.Labels["k"] != "v" {
		t.Errorf("config %+v", cfg)
	}
	if cfg.StopTimeout == nil || *cfg.StopTimeout != 2 {
		t.Errorf("stop timeout %v, want 2 (rounded up)", cfg.StopTimeout)
	}
	if host.NanoCPUs != 5e8 || host.Memory != 64<<20 || host.MemorySwap != 64<<20 {
		t.Errorf("resources %+v", host.Resources)
	}
	if host.Privileged || host.NetworkMode.IsHost() || host.PidMode.IsHost() || len(host.Binds) > 0 || len(host.Mounts) > 0 {
		t.Errorf("host config grants more than the defaults: %+v", host)
	}
	if host.RestartPolicy.Name != container.RestartPolicyDisabled {
		t.Errorf("restart policy %q: restarting is the controller's job", host.RestartPolicy.Name)
	}
}

func TestDockerConfig_RejectsBadPorts(t *testing.T) {
	for _, p := range []PortBinding{
		{ContainerPort: 80, Protocol: "sctp"},
		{ContainerPort: 0},
		{ContainerPort: 70000},
		{ContainerPort: 80, HostPort: -1},
	} {
		if _, _, err := dockerConfig(ContainerSpec{Ports: []PortBinding{p}}); err == nil {
			t.Errorf("port %+v accepted", p)
		}
	}
}

func TestContainerFromInspect(t *testing.T) {
	r := container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			ID:      "abc",
			Name:    "/web",
			Image:   "sha256:1234",
			Created: "2026-01-02T03:04:05.123456789Z",
			State: &container.State{
				Status:     container.StateExited,
				ExitCode:   137,
				OOMKilled:  true,
				Error:      "boom",
				StartedAt:  "2026-01-02T03:04:06Z",
				FinishedAt: "0001-01-01T00:00:00Z",
			},
		},
		Config: &container.Config{Image: "cubelet-workload:latest", Labels: map[string]string{"a": "b"}},
		NetworkSettings: &container.NetworkSettings{NetworkSettingsBase: container.NetworkSettingsBase{Ports: nat.PortMap{
			"8080/tcp": {{HostIP: "::", HostPort: "32768"}, {HostIP: "0.0.0.0", HostPort: "32768"}},
			"53/udp":   {{HostIP: "0.0.0.0", HostPort: "5353"}},
			"9090/tcp": nil, // exposed, not published
		}}},
	}
	got := containerFromInspect(r)
	want := Container{
		ID:        "abc",
		Name:      "web",
		Image:     "cubelet-workload:latest",
		Labels:    map[string]string{"a": "b"},
		State:     StateExited,
		ExitCode:  137,
		OOMKilled: true,
		Error:     "boom",
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
		StartedAt: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC),
		Ports: []PortBinding{
			{ContainerPort: 53, Protocol: "udp", HostIP: "0.0.0.0", HostPort: 5353},
			{ContainerPort: 8080, Protocol: "tcp", HostIP: "0.0.0.0", HostPort: 32768},
			{ContainerPort: 8080, Protocol: "tcp", HostIP: "::", HostPort: 32768},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if got := containerFromInspect(container.InspectResponse{}); !reflect.DeepEqual(got, Container{}) {
		t.Fatalf("empty inspect gave %+v", got)
	}
}

func TestParseDockerTime_NeverAndGarbageAreZero(t *testing.T) {
	for _, s := range []string{"", "0001-01-01T00:00:00Z", "yesterday"} {
		if got := parseDockerTime(s); !got.IsZero() {
			t.Errorf("parseDockerTime(%q) = %v, want zero", s, got)
		}
	}
}

func TestGraceSeconds_RoundsUp(t *testing.T) {
	for in, want := range map[time.Duration]int{-time.Second: 0, 0: 0, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 30 * time.Second: 30} {
		if got := graceSeconds(in); got != want {
			t.Errorf("graceSeconds(%v) = %d, want %d", in, got, want)
		}
	}
}

func TestPullStreamError_SurfacesTheDaemonsMessage(t *testing.T) {
	for _, tc := range []struct{ name, stream, want string }{
		{"clean", `{"status":"Pulling from library/x"}` + "\n" + `{"status":"Digest: sha256:00"}`, ""},
		{"errorDetail", `{"status":"Pulling"}{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown (old)"}`, "manifest unknown"},
		{"error only", `{"error":"toomanyrequests"}`, "toomanyrequests"},
		{"truncated", `{"status":"Pull`, "read progress"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := pullStreamError(strings.NewReader(tc.stream))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
