package cube

import "github.com/cubelet/cubelet/hoststats"

// Stats is Cube's stats.Stats, the body of a worker's GET /stats: the
// host's figures under the names Cube gives them (goprocinfo's JSON keys
// inside), and the number of tasks the worker holds.
type Stats struct {
	MemStats  *hoststats.MemInfo
	DiskStats *hoststats.Disk
	CpuStats  *hoststats.CPUStat
	LoadStats *hoststats.LoadAvg
	TaskCount int
}

// NewStats puts a host reading and a task count into Cube's shape.
func NewStats(h hoststats.Stats, taskCount int) Stats {
	return Stats{
		MemStats:  h.MemStats,
		DiskStats: h.DiskStats,
		CpuStats:  h.CpuStats,
		LoadStats: h.LoadStats,
		TaskCount: taskCount,
	}
}
