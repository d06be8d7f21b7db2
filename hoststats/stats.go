package hoststats

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Stats is one reading of the host, with the field names Cube's stats.Stats
// gives the four goprocinfo structs.
type Stats struct {
	MemStats  *MemInfo
	DiskStats *Disk
	CpuStats  *CPUStat
	LoadStats *LoadAvg
}

// Read reads the host's figures from /proc and the root filesystem.
func Read() (Stats, error) {
	return ReadFrom("/proc", "/")
}

// ReadFrom reads the figures from a proc filesystem mounted at procDir and
// the filesystem holding diskPath. Every source is read even when one
// fails; the error joins the failures and the Stats holds what was read.
func ReadFrom(procDir, diskPath string) (Stats, error) {
	var s Stats
	var errs []error
	if data, err := os.ReadFile(filepath.Join(procDir, "meminfo")); err != nil {
		errs = append(errs, fmt.Errorf("reading memory figures: %w", err))
	} else if s.MemStats, err = ParseMemInfo(data); err != nil {
		errs = append(errs, fmt.Errorf("parsing %s/meminfo: %w", procDir, err))
	}
	if data, err := os.ReadFile(filepath.Join(procDir, "stat")); err != nil {
		errs = append(errs, fmt.Errorf("reading CPU figures: %w", err))
	} else if s.CpuStats, err = ParseCPUStat(data); err != nil {
		errs = append(errs, fmt.Errorf("parsing %s/stat: %w", procDir, err))
	}
	if data, err := os.ReadFile(filepath.Join(procDir, "loadavg")); err != nil {
		errs = append(errs, fmt.Errorf("reading load average: %w", err))
	} else if s.LoadStats, err = ParseLoadAvg(data); err != nil {
		errs = append(errs, fmt.Errorf("parsing %s/loadavg: %w", procDir, err))
	}
	var err error
	if s.DiskStats, err = ReadDisk(diskPath); err != nil {
		errs = append(errs, err)
	}
	return s, errors.Join(errs...)
}
