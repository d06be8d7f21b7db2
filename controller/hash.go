package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// specHash identifies the container a spec asks for. It covers every field
// that shapes the container (image, command, args, env, working dir, ports,
// resources, stop grace period) and RestartGeneration, which asks for a fresh
// container on purpose. It deliberately ignores:
//   - DesiredState: stopping and starting again is the same container;
//   - RestartPolicy: it decides what to do after an exit, not what runs;
//   - ImagePullPolicy: it decides when to pull, not what runs;
//   - metadata (labels, annotations) and status;
//   - probes, and the names of ports (which only probes read): a changed
//     probe applies to the running container, as the prober restarts its
//     workers, without replacing it.
//
// A change of hash means "replace the container".
func specHash(spec *v1.TaskSpec) string {
	shaping := struct {
		Image      string
		Command    []string
		Args       []string
		Env        []v1.EnvVar
		WorkingDir string
		Ports      []v1.PortMapping
		CPU        string
		Memory     string
		Grace      *int64
		Restart    int64
	}{
		Image:      spec.Image,
		Command:    spec.Command,
		Args:       spec.Args,
		Env:        spec.Env,
		WorkingDir: spec.WorkingDir,
		Ports:      unnamed(spec.Ports),
		Grace:      spec.StopGracePeriodSeconds,
		Restart:    spec.RestartGeneration,
	}
	if spec.Resources.CPU != nil {
		shaping.CPU = spec.Resources.CPU.String()
	}
	if spec.Resources.Memory != nil {
		shaping.Memory = spec.Resources.Memory.String()
	}
	// json.Marshal of this struct cannot fail: it holds only plain types.
	b, _ := json.Marshal(shaping)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:12]
}

// unnamed is ports without their names, which do not shape the container.
func unnamed(ports []v1.PortMapping) []v1.PortMapping {
	if ports == nil {
		return nil
	}
	out := make([]v1.PortMapping, len(ports))
	for i, p := range ports {
		p.Name = ""
		out[i] = p
	}
	return out
}
