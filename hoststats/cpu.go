package hoststats

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// CPUStat is the aggregate "cpu" line of /proc/stat, in clock ticks since
// boot, with goprocinfo's JSON keys.
type CPUStat struct {
	Id        string `json:"id"`
	User      uint64 `json:"user"`
	Nice      uint64 `json:"nice"`
	System    uint64 `json:"system"`
	Idle      uint64 `json:"idle"`
	IOWait    uint64 `json:"iowait"`
	IRQ       uint64 `json:"irq"`
	SoftIRQ   uint64 `json:"softirq"`
	Steal     uint64 `json:"steal"`
	Guest     uint64 `json:"guest"`
	GuestNice uint64 `json:"guest_nice"`
}

// ParseCPUStat parses the "cpu" line of /proc/stat. Older kernels have
// fewer columns; the missing ones are zero.
func ParseCPUStat(data []byte) (*CPUStat, error) {
	for s := bufio.NewScanner(bytes.NewReader(data)); s.Scan(); {
		fields := strings.Fields(s.Text())
		if len(fields) == 0 || fields[0] != "cpu" {
			continue
		}
		c := &CPUStat{Id: fields[0]}
		columns := []*uint64{&c.User, &c.Nice, &c.System, &c.Idle, &c.IOWait,
			&c.IRQ, &c.SoftIRQ, &c.Steal, &c.Guest, &c.GuestNice}
		if len(fields) < 5 {
			return nil, fmt.Errorf("cpu line has %d columns, want at least 4", len(fields)-1)
		}
		for i, f := range fields[1:min(len(fields), len(columns)+1)] {
			v, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("cpu column %d: %w", i+1, err)
			}
			*columns[i] = v
		}
		return c, nil
	}
	return nil, errors.New("no cpu line")
}
