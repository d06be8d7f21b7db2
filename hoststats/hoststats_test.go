package hoststats

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const meminfoFixture = `MemTotal:        8048872 kB
MemFree:          512340 kB
MemAvailable:    4096000 kB
Buffers:          120000 kB
Active(anon):      30000 kB
SUnreclaim:        40000 kB
NFS_Unstable:          0 kB
Committed_AS:    9000000 kB
HugePages_Total:       4
Hugepagesize:       2048 kB
ShinyNewField:        12 kB
`

func TestParseMemInfo_KeepsKilobytesAndSkipsUnknownLines(t *testing.T) {
	m, err := ParseMemInfo([]byte(meminfoFixture))
	if err != nil {
		t.Fatal(err)
	}
	want := MemInfo{MemTotal: 8048872, MemFree: 512340, MemAvailable: 4096000, Buffers: 120000,
		ActiveAnon: 30000, SUnreclaim: 40000, CommittedAS: 9000000, HugePagesTotal: 4, Hugepagesize: 2048}
	if *m != want {
		t.Errorf("ParseMemInfo =\n%+v\nwant\n%+v", *m, want)
	}
}

func TestParseMemInfo_RefusesWhatIsNotMeminfo(t *testing.T) {
	for _, in := range []string{"", "MemFree: 1 kB\n", "MemTotal: lots kB\n"} {
		if _, err := ParseMemInfo([]byte(in)); err == nil {
			t.Errorf("ParseMemInfo(%q) succeeded", in)
		}
	}
}

func TestParseCPUStat_ReadsTheAggregateLine(t *testing.T) {
	in := "cpu  4705 150 1120 16250 520 20 30 5 3 1\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 1\n"
	c, err := ParseCPUStat([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := CPUStat{Id: "cpu", User: 4705, Nice: 150, System: 1120, Idle: 16250, IOWait: 520,
		IRQ: 20, SoftIRQ: 30, Steal: 5, Guest: 3, GuestNice: 1}
	if *c != want {
		t.Errorf("ParseCPUStat = %+v; want %+v", *c, want)
	}
	old, err := ParseCPUStat([]byte("cpu 1 2 3 4\n"))
	if err != nil || old.Idle != 4 || old.IOWait != 0 {
		t.Errorf("a 2.4 kernel's cpu line = %+v, %v", old, err)
	}
	for _, in := range []string{"", "cpu0 1 2 3 4\n", "cpu 1 2\n", "cpu 1 2 x 4\n"} {
		if _, err := ParseCPUStat([]byte(in)); err == nil {
			t.Errorf("ParseCPUStat(%q) succeeded", in)
		}
	}
}

func TestParseLoadAvg(t *testing.T) {
	l, err := ParseLoadAvg([]byte("0.20 0.18 0.12 1/80 11206\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := LoadAvg{Last1Min: 0.20, Last5Min: 0.18, Last15Min: 0.12, ProcessRunning: 1, ProcessTotal: 80, LastPID: 11206}
	if *l != want {
		t.Errorf("ParseLoadAvg = %+v; want %+v", *l, want)
	}
	for _, in := range []string{"", "0.1 0.2 0.3 1/2", "0.1 0.2 0.3 12 4", "a 0.2 0.3 1/2 4"} {
		if _, err := ParseLoadAvg([]byte(in)); err == nil {
			t.Errorf("ParseLoadAvg(%q) succeeded", in)
		}
	}
}

func TestRead_RealHost(t *testing.T) {
	s, err := Read()
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if s.MemStats.MemTotal == 0 || s.MemStats.MemAvailable > s.MemStats.MemTotal {
		t.Errorf("memory: %+v", s.MemStats)
	}
	if c := s.CpuStats; c.Id != "cpu" || c.User+c.System+c.Idle == 0 {
		t.Errorf("cpu: %+v", c)
	}
	if l := s.LoadStats; l.ProcessTotal == 0 || l.ProcessRunning > l.ProcessTotal {
		t.Errorf("load: %+v", l)
	}
	if d := s.DiskStats; d.All == 0 || d.Used+d.Free != d.All {
		t.Errorf("disk: %+v", d)
	}
}

func TestReadFrom_ReportsEverySourceThatFails(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "loadavg"), []byte("0.1 0.2 0.3 1/2 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ReadFrom(dir, filepath.Join(dir, "missing"))
	if err == nil {
		t.Fatal("ReadFrom succeeded without meminfo, stat and the disk")
	}
	for _, want := range []string{"memory", "CPU", "statfs"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if s.LoadStats == nil || s.LoadStats.LastPID != 3 {
		t.Errorf("the readable source was dropped: %+v", s.LoadStats)
	}
}

// TestJSONKeys_AreGoprocinfos pins the keys Cube's manager decodes: the
// goprocinfo structs' tags, not Go field names.
func TestJSONKeys_AreGoprocinfos(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want []string
	}{
		{CPUStat{}, []string{"id", "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice"}},
		{LoadAvg{}, []string{"last1min", "last5min", "last15min", "process_running", "process_total", "last_pid"}},
		{Disk{}, []string{"all", "used", "free", "freeInodes"}},
		{Stats{}, []string{"MemStats", "DiskStats", "CpuStats", "LoadStats"}},
	} {
		if got := keys(t, tc.v); !reflect.DeepEqual(got, sorted(tc.want)) {
			t.Errorf("%T keys = %v; want %v", tc.v, got, sorted(tc.want))
		}
	}
	mem := keys(t, MemInfo{})
	for _, k := range []string{"mem_total", "mem_free", "mem_available", "s_unclaim", "committed_as", "huge_pages_total", "direct_map_2M"} {
		if !slices.Contains(mem, k) {
			t.Errorf("MemInfo has no key %q: %v", k, mem)
		}
	}
	if len(mem) != 44 {
		t.Errorf("MemInfo has %d keys; goprocinfo's has 44", len(mem))
	}
}

func keys(t *testing.T, v any) []string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return sorted(out)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
