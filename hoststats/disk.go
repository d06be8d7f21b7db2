package hoststats

import (
	"fmt"
	"syscall"
)

// Disk is the usage of one filesystem in bytes, with goprocinfo's JSON
// keys. Free counts the blocks root may use, as goprocinfo does.
type Disk struct {
	All        uint64 `json:"all"`
	Used       uint64 `json:"used"`
	Free       uint64 `json:"free"`
	FreeInodes uint64 `json:"freeInodes"`
}

// ReadDisk reads the usage of the filesystem holding path.
func ReadDisk(path string) (*Disk, error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(path, &fs); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", path, err)
	}
	bsize := uint64(fs.Bsize)
	d := &Disk{
		All:        fs.Blocks * bsize,
		Free:       fs.Bfree * bsize,
		FreeInodes: fs.Ffree,
	}
	d.Used = d.All - d.Free
	return d, nil
}
