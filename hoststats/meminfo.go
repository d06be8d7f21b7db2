package hoststats

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MemInfo is /proc/meminfo in kB (HugePages_* in pages), with goprocinfo's
// JSON keys, its spelling mistakes included ("s_unclaim"): they are what
// Cube's manager decodes.
type MemInfo struct {
	MemTotal          uint64 `json:"mem_total"`
	MemFree           uint64 `json:"mem_free"`
	MemAvailable      uint64 `json:"mem_available"`
	Buffers           uint64 `json:"buffers"`
	Cached            uint64 `json:"cached"`
	SwapCached        uint64 `json:"swap_cached"`
	Active            uint64 `json:"active"`
	Inactive          uint64 `json:"inactive"`
	ActiveAnon        uint64 `json:"active_anon"`
	InactiveAnon      uint64 `json:"inactive_anon"`
	ActiveFile        uint64 `json:"active_file"`
	InactiveFile      uint64 `json:"inactive_file"`
	Unevictable       uint64 `json:"unevictable"`
	Mlocked           uint64 `json:"mlocked"`
	SwapTotal         uint64 `json:"swap_total"`
	SwapFree          uint64 `json:"swap_free"`
	Dirty             uint64 `json:"dirty"`
	Writeback         uint64 `json:"write_back"`
	AnonPages         uint64 `json:"anon_pages"`
	Mapped            uint64 `json:"mapped"`
	Shmem             uint64 `json:"shmem"`
	Slab              uint64 `json:"slab"`
	SReclaimable      uint64 `json:"s_reclaimable"`
	SUnreclaim        uint64 `json:"s_unclaim"`
	KernelStack       uint64 `json:"kernel_stack"`
	PageTables        uint64 `json:"page_tables"`
	NFSUnstable       uint64 `json:"nfs_unstable"`
	Bounce            uint64 `json:"bounce"`
	WritebackTmp      uint64 `json:"writeback_tmp"`
	CommitLimit       uint64 `json:"commit_limit"`
	CommittedAS       uint64 `json:"committed_as"`
	VmallocTotal      uint64 `json:"vmalloc_total"`
	VmallocUsed       uint64 `json:"vmalloc_used"`
	VmallocChunk      uint64 `json:"vmalloc_chunk"`
	HardwareCorrupted uint64 `json:"hardware_corrupted"`
	AnonHugePages     uint64 `json:"anon_huge_pages"`
	HugePagesTotal    uint64 `json:"huge_pages_total"`
	HugePagesFree     uint64 `json:"huge_pages_free"`
	HugePagesRsvd     uint64 `json:"huge_pages_rsvd"`
	HugePagesSurp     uint64 `json:"huge_pages_surp"`
	Hugepagesize      uint64 `json:"hugepagesize"`
	DirectMap4k       uint64 `json:"direct_map_4k"`
	DirectMap2M       uint64 `json:"direct_map_2M"`
	DirectMap1G       uint64 `json:"direct_map_1G"`
}

// fields maps the names /proc/meminfo uses onto m's fields.
func (m *MemInfo) fields() map[string]*uint64 {
	return map[string]*uint64{
		"MemTotal": &m.MemTotal, "MemFree": &m.MemFree, "MemAvailable": &m.MemAvailable,
		"Buffers": &m.Buffers, "Cached": &m.Cached, "SwapCached": &m.SwapCached,
		"Active": &m.Active, "Inactive": &m.Inactive,
		"Active(anon)": &m.ActiveAnon, "Inactive(anon)": &m.InactiveAnon,
		"Active(file)": &m.ActiveFile, "Inactive(file)": &m.InactiveFile,
		"Unevictable": &m.Unevictable, "Mlocked": &m.Mlocked,
		"SwapTotal": &m.SwapTotal, "SwapFree": &m.SwapFree,
		"Dirty": &m.Dirty, "Writeback": &m.Writeback, "AnonPages": &m.AnonPages,
		"Mapped": &m.Mapped, "Shmem": &m.Shmem, "Slab": &m.Slab,
		"SReclaimable": &m.SReclaimable, "SUnreclaim": &m.SUnreclaim,
		"KernelStack": &m.KernelStack, "PageTables": &m.PageTables,
		"NFS_Unstable": &m.NFSUnstable, "Bounce": &m.Bounce, "WritebackTmp": &m.WritebackTmp,
		"CommitLimit": &m.CommitLimit, "Committed_AS": &m.CommittedAS,
		"VmallocTotal": &m.VmallocTotal, "VmallocUsed": &m.VmallocUsed, "VmallocChunk": &m.VmallocChunk,
		"HardwareCorrupted": &m.HardwareCorrupted, "AnonHugePages": &m.AnonHugePages,
		"HugePages_Total": &m.HugePagesTotal, "HugePages_Free": &m.HugePagesFree,
		"HugePages_Rsvd": &m.HugePagesRsvd, "HugePages_Surp": &m.HugePagesSurp,
		"Hugepagesize": &m.Hugepagesize,
		"DirectMap4k":  &m.DirectMap4k, "DirectMap2M": &m.DirectMap2M, "DirectMap1G": &m.DirectMap1G,
	}
}

// ParseMemInfo parses the contents of /proc/meminfo. Lines it does not
// know (kernels add some) are skipped; MemTotal is required.
func ParseMemInfo(data []byte) (*MemInfo, error) {
	m := &MemInfo{}
	fields := m.fields()
	seenTotal := false
	for s := bufio.NewScanner(bytes.NewReader(data)); s.Scan(); {
		name, rest, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		field, known := fields[name]
		if !known {
			continue
		}
		value, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
		v, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		*field = v
		seenTotal = seenTotal || name == "MemTotal"
	}
	if !seenTotal {
		return nil, errors.New("no MemTotal line")
	}
	return m, nil
}
