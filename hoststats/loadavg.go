package hoststats

import (
	"fmt"
	"strconv"
	"strings"
)

// LoadAvg is /proc/loadavg with goprocinfo's JSON keys.
type LoadAvg struct {
	Last1Min       float64 `json:"last1min"`
	Last5Min       float64 `json:"last5min"`
	Last15Min      float64 `json:"last15min"`
	ProcessRunning uint64  `json:"process_running"`
	ProcessTotal   uint64  `json:"process_total"`
	LastPID        uint64  `json:"last_pid"`
}

// ParseLoadAvg parses /proc/loadavg: "0.20 0.18 0.12 1/80 11206".
func ParseLoadAvg(data []byte) (*LoadAvg, error) {
	fields := strings.Fields(string(data))
	if len(fields) != 5 {
		return nil, fmt.Errorf("want 5 fields, got %d", len(fields))
	}
	running, total, ok := strings.Cut(fields[3], "/")
	if !ok {
		return nil, fmt.Errorf("process counts %q: want running/total", fields[3])
	}
	l := &LoadAvg{}
	var err error
	parse := func(dst *float64, s string) {
		if err == nil {
			*dst, err = strconv.ParseFloat(s, 64)
		}
	}
	parseUint := func(dst *uint64, s string) {
		if err == nil {
			*dst, err = strconv.ParseUint(s, 10, 64)
		}
	}
	parse(&l.Last1Min, fields[0])
	parse(&l.Last5Min, fields[1])
	parse(&l.Last15Min, fields[2])
	parseUint(&l.ProcessRunning, running)
	parseUint(&l.ProcessTotal, total)
	parseUint(&l.LastPID, fields[4])
	if err != nil {
		return nil, err
	}
	return l, nil
}
