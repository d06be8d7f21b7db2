package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// row is one line of the table.
type row struct {
	section  string
	name     string
	value    string // cubelet's figure
	baseline string // the floor measured beside it, in the same run
	result   string // ratio or difference against the floor
	target   string
	met      string // verdict(...) or "—" when there is no target
	detail   string // runs, counts and secondary figures
}

func verdict(ok bool) string {
	if ok {
		return "yes"
	}
	return "**MISSED**"
}

// report collects the rows of a run and renders them.
type report struct {
	cfg      config
	started  time.Time
	elapsed  time.Duration
	machine  machine
	rows     []row
	profiles *profileTops
}

func (r *report) add(x row) {
	r.rows = append(r.rows, x)
	// Keep the sections in the order of readings, whatever order they ran in.
	order := func(section string) int {
		return slices.IndexFunc(readings, func(s reading) bool { return s.section == section })
	}
	slices.SortStableFunc(r.rows, func(a, b row) int { return order(a.section) - order(b.section) })
	logf("%s / %s: %s (baseline %s) → %s, target %s: %s", x.section, x.name, x.value, x.baseline, x.result, x.target, x.met)
}

func (r *report) section(name string) []row {
	var out []row
	for _, x := range r.rows {
		if x.section == name {
			out = append(out, x)
		}
	}
	return out
}

// table is the markdown table of figures.
func (r *report) table() string {
	var b strings.Builder
	b.WriteString("| Section | Measurement | cubelet | Baseline (same run) | Result | Target | Met |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, x := range r.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", x.section, x.name, x.value, x.baseline, x.result, x.target, x.met)
	}
	return b.String()
}

// markdown is docs/benchmarks.md.
func (r *report) markdown() string {
	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	b.WriteString("Written by `make bench` (hack/bench.sh → hack/bench); do not edit by hand, rerun it.\n")
	b.WriteString("Every figure with a baseline was measured beside that baseline in the same run,\n")
	b.WriteString("because these machines are noisy: compare the ratios, not the absolute times,\n")
	b.WriteString("with other machines or other runs.\n\n")
	fmt.Fprintf(&b, "- Date: %s (run took %s)\n", r.started.UTC().Format("2006-01-02 15:04 MST"), r.elapsed.Round(time.Second))
	for _, line := range r.machine.lines() {
		fmt.Fprintf(&b, "- %s\n", line)
	}
	fmt.Fprintf(&b, "- Parameters: converge N=%d at %d-way concurrency, cubelet --workers %d, %d ABBA round(s) of raw, cubelet, cubelet, raw; react %d kills of each kind; %d tasks in process (median of %d runs, %d in process workers, and one run at %d), for the list and at start-up; API %d PUTs from %d clients\n\n",
		r.cfg.n, r.cfg.concurrency, r.cfg.workers, r.cfg.rounds, r.cfg.react, r.cfg.tasks, r.cfg.inRuns, r.cfg.inWorkers, r.cfg.bigTasks, r.cfg.puts, r.cfg.clients)
	if len(r.section("Cluster")) > 0 {
		b.WriteString(clusterParameters())
	}
	b.WriteString("## Figures\n\n")
	b.WriteString(r.table())
	b.WriteString("\n")
	for _, s := range readings {
		rows := r.section(s.section)
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", s.section, s.method)
		for _, x := range rows {
			fmt.Fprintf(&b, "- **%s** — %s → %s (target %s, met: %s). %s.\n", x.name, x.value, x.result, x.target, x.met, x.detail)
		}
		fmt.Fprintf(&b, "\n**Reading.** %s\n\n", s.reading(rows))
	}
	if r.profiles != nil {
		b.WriteString(r.profiles.markdown())
	}
	return b.String()
}

// machine describes where the figures were taken.
type machine struct {
	cpus      int
	cpuModel  string
	memory    string
	kernel    string
	docker    string
	goVersion string
	storage   string
}

func describeMachine(ctx context.Context) machine {
	m := machine{cpus: goruntime.NumCPU(), goVersion: goruntime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.cpuModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
				m.memory = fmt.Sprintf("%.1f GiB", kb/1024/1024)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}}, storage driver via docker info)").Output(); err == nil {
		m.docker = strings.TrimSpace(string(out))
		if drv, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.Driver}}").Output(); err == nil {
			m.docker = strings.Replace(m.docker, "storage driver via docker info", "storage driver "+strings.TrimSpace(string(drv)), 1)
		}
	}
	if out, err := exec.CommandContext(ctx, "df", "-hT", os.TempDir()).Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if f := strings.Fields(lines[len(lines)-1]); len(f) >= 2 {
			m.storage = fmt.Sprintf("%s on %s (%s)", os.TempDir(), f[0], f[1])
		}
	}
	return m
}

func (m machine) lines() []string {
	return []string{
		fmt.Sprintf("CPU: %d × %s (nproc %d)", m.cpus, m.cpuModel, m.cpus),
		"Memory: " + m.memory,
		"Kernel: " + m.kernel,
		"Docker server: " + m.docker,
		"Go: " + m.goVersion,
		"Temporary storage (stores, bbolt floor): " + m.storage,
	}
}

func (m machine) oneLine() string {
	return fmt.Sprintf("%d CPU, %s, kernel %s, docker %s, %s", m.cpus, m.memory, m.kernel, m.docker, m.goVersion)
}
