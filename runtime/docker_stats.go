package runtime

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/docker/docker/api/types/container"
)

// ContainerStats reads the container's CPU and memory once, with the
// Engine API's one-shot stats (GET /containers/{id}/stats?stream=false&
// one-shot=true): the daemon answers from the cgroup at once instead of
// waiting a second to fill "precpu", which keeps a sampler's round short.
// A stopped container reads as zeros, as Docker reports it.
func (d *Docker) ContainerStats(ctx context.Context, id string) (Stats, error) {
	resp, err := d.cli.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return Stats{}, fmt.Errorf("stats of container %s: %w", id, classify(err))
	}
	defer resp.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return Stats{}, fmt.Errorf("stats of container %s: decode: %w", id, err)
	}
	return Stats{
		Time:             s.Read,
		CPUNanos:         s.CPUStats.CPUUsage.TotalUsage,
		MemoryBytes:      workingSet(s.MemoryStats),
		MemoryLimitBytes: s.MemoryStats.Limit,
	}, nil
}

// workingSet is usage less the inactive file cache, as the docker CLI
// computes it: page cache the kernel can drop at will is not memory the
// workload holds. cgroup v2 names the counter inactive_file, v1
// total_inactive_file.
func workingSet(m container.MemoryStats) uint64 {
	cache, ok := m.Stats["inactive_file"]
	if !ok {
		cache = m.Stats["total_inactive_file"]
	}
	if cache > m.Usage {
		return 0
	}
	return m.Usage - cache
}
