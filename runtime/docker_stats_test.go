package runtime

import (
	"testing"

	"github.com/docker/docker/api/types/container"
)

func TestWorkingSet_SubtractsInactiveFileCache(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    container.MemoryStats
		want uint64
	}{
		{"cgroup v2", container.MemoryStats{Usage: 100, Stats: map[string]uint64{"inactive_file": 30}}, 70},
		{"cgroup v1", container.MemoryStats{Usage: 100, Stats: map[string]uint64{"total_inactive_file": 40}}, 60},
		{"no cache counter", container.MemoryStats{Usage: 100}, 100},
		{"cache above usage", container.MemoryStats{Usage: 10, Stats: map[string]uint64{"inactive_file": 30}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := workingSet(tc.m); got != tc.want {
				t.Errorf("workingSet = %d, want %d", got, tc.want)
			}
		})
	}
}
