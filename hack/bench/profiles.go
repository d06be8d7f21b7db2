package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// profileTops is the top of the profiles of one extra in-process run,
// kept out of the timed runs (profiling costs a few percent).
type profileTops struct {
	tasks int
	cpu   string // flat CPU
	cum   string // cumulative CPU
	alloc string // bytes allocated over the run
	heap  string // live heap once converged
}

// profileInProcess converges cfg.tasks once more with the CPU profile on
// and a heap profile taken once the queue is idle, and renders the top of
// each with `go tool pprof -top`.
func profileInProcess(ctx context.Context, cfg config, rep *report) error {
	if cfg.cpuProfile == "" {
		cfg.cpuProfile = filepath.Join(cfg.workDir, "inprocess-cpu.pprof")
	}
	if cfg.memProfile == "" {
		cfg.memProfile = filepath.Join(cfg.workDir, "inprocess-heap.pprof")
	}
	if _, err := inProcessOnce(ctx, cfg, cfg.tasks, true); err != nil {
		return err
	}
	top := func(args ...string) string {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof", "-top", "-nodecount=15"}, args...)...).Output()
		if err != nil {
			return fmt.Sprintf("(go tool pprof failed: %v)", err)
		}
		// Drop the header lines up to the column titles.
		lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		for i, l := range lines {
			if strings.Contains(l, "flat%") {
				return strings.Join(lines[i-1:], "\n")
			}
		}
		return strings.Join(lines, "\n")
	}
	rep.profiles = &profileTops{
		tasks: cfg.tasks,
		cpu:   top(cfg.cpuProfile),
		cum:   top("-cum", cfg.cpuProfile),
		alloc: top("-sample_index=alloc_space", cfg.memProfile),
		heap:  top("-sample_index=inuse_space", cfg.memProfile),
	}
	return nil
}

func (p *profileTops) markdown() string {
	var b strings.Builder
	b.WriteString("## Profiles\n\n")
	fmt.Fprintf(&b, "One more in-process converge of %d tasks, not among the timed runs, with the CPU profile on for the converge "+
		"and a heap profile once the queue was idle (`go tool pprof -top`; the heap profile samples every 512 KiB).\n\n", p.tasks)
	for _, s := range []struct{ title, body string }{
		{"CPU, flat", p.cpu},
		{"CPU, cumulative", p.cum},
		{"Allocated bytes over the converge (alloc_space)", p.alloc},
		{"Live heap once converged (inuse_space)", p.heap},
	} {
		fmt.Fprintf(&b, "### %s\n\n```\n%s\n```\n\n", s.title, s.body)
	}
	return b.String()
}
