// Command bench measures cubelet's overhead next to the Docker Engine it
// drives, and the speed of its in-process machinery. `make bench` runs it
// (through hack/bench.sh); it prints a table and writes docs/benchmarks.md.
//
// Every figure that has a floor is measured beside that floor in the same
// run, because these machines are noisy:
//
//   - converge: N tasks PUT through the API of the real binary until all are
//     Running, against raw Engine API create+start of N containers at the
//     same concurrency; then DELETE of all against raw force-remove.
//   - react: a managed container removed with `docker rm -f`, and one whose
//     main process is SIGKILLed, until it runs again; beside them a client
//     that force-removes and re-creates a container itself, and Docker's own
//     restart policy "always".
//   - in process: the real controller (informers, workqueue) over the real
//     bbolt store and the zero-latency fake engine, converging 10,000 tasks
//     from a cold start.
//   - API: durable PUTs from 64 loopback clients against the real router and
//     store, beside bare bbolt db.Batch writes and an empty HTTP handler;
//     GET of the whole list at 10,000 tasks.
//   - start-up: process start to /readyz with 10,000 tasks stored and N
//     containers running.
//   - cluster: cubelets on one etcd: binding 1,000 tasks over 3 nodes beside
//     bare etcd compare-and-swap transactions, converge on 3 nodes against
//     1, and failover after kill -9 of a node (cluster*.go).
//
// The Docker parts hold the host lock the end-to-end tests take
// (hack/testimage.LockHost), since every cubelet removes the managed
// containers its store does not know; they remove all managed and bench
// containers before and after. It must never run against a Docker host
// whose managed containers matter.
package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/cubelet/cubelet/hack/hostlock"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// config is what a run measures, from flags (hack/bench.sh maps the BENCH_*
// environment onto them).
type config struct {
	cubelet     string // binary under test, built without -race
	image       string
	n           int // converge: tasks and raw containers
	concurrency int // converge: concurrent API clients and raw Engine API callers
	workers     int // cubelet --workers
	inWorkers   int // in process: controller workers
	rounds      int // converge: ABBA rounds of raw, cubelet, cubelet, raw (1 = raw, cubelet only)
	react       int // react: kills of each kind
	tasks       int // in process, API list, start-up: stored tasks
	inRuns      int // in process: converges at tasks (the median is reported)
	bigTasks    int // in process: one more converge at this count (0: none)
	moreWorkers int // in process: one more converge at tasks with this many workers (0: none)
	hostLock    bool
	clients     int // API: concurrent clients
	puts        int // API: PUTs (and floor writes) per measurement
	only        map[string]bool
	out         string
	workDir     string
	cpuProfile  string
	memProfile  string
	trace       string
}

var sections = []string{"converge", "react", "startup", "inprocess", "api", "cluster"}

func main() {
	var cfg config
	var only string
	flag.StringVar(&cfg.cubelet, "cubelet", "bin/cubelet-bench", "cubelet binary to measure (build it without -race)")
	flag.StringVar(&cfg.image, "image", "cubelet-workload:latest", "workload image")
	flag.IntVar(&cfg.n, "n", 100, "converge: tasks and raw containers")
	flag.IntVar(&cfg.concurrency, "concurrency", 16, "converge: concurrent callers on both sides")
	flag.IntVar(&cfg.workers, "workers", 16, "cubelet --workers")
	flag.IntVar(&cfg.inWorkers, "inprocess-workers", 16, "in process: controller workers (serve's --workers default)")
	flag.IntVar(&cfg.rounds, "rounds", 3, "converge: ABBA rounds, each raw, cubelet, cubelet, raw; 1 = raw then cubelet only")
	flag.IntVar(&cfg.react, "react", 30, "react: kills of each kind")
	flag.IntVar(&cfg.tasks, "tasks", 10000, "in process, API list and start-up: stored tasks")
	flag.IntVar(&cfg.inRuns, "inprocess-runs", 3, "in process: converges at -tasks; the median is reported")
	flag.IntVar(&cfg.bigTasks, "big-tasks", 50000, "in process: one more converge at this many tasks (0: none)")
	flag.IntVar(&cfg.moreWorkers, "inprocess-more-workers", 32, "in process: one more converge at -tasks with this many workers (0: none)")
	flag.BoolVar(&cfg.hostLock, "hostlock", true, "take the Docker host lock even when no section needs Docker (keeps e2e load off the in-process figures)")
	flag.IntVar(&cfg.clients, "clients", 64, "API: concurrent clients")
	flag.IntVar(&cfg.puts, "puts", 10000, "API: PUTs per measurement")
	flag.StringVar(&only, "only", "", "comma-separated sections to run ("+strings.Join(sections, ",")+"); empty runs all")
	flag.StringVar(&cfg.out, "out", "docs/benchmarks.md", "markdown report to write; empty writes none")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write the CPU profile of the profiled in-process run here (default: in the work dir, rendered into the report)")
	flag.StringVar(&cfg.memProfile, "memprofile", "", "write the heap profile of the profiled in-process run here (default: in the work dir, rendered into the report)")
	flag.StringVar(&cfg.trace, "trace", "", "write an execution trace of the profiled in-process run here (go tool trace; none by default)")
	flag.Parse()
	if only != "" {
		cfg.only = map[string]bool{}
		for _, s := range strings.Split(only, ",") {
			cfg.only[strings.TrimSpace(s)] = true
		}
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func (c config) runs(section string) bool { return c.only == nil || c.only[section] }

func run(cfg config) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// The whole run is bounded: `make bench` must finish in minutes.
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()

	bin, err := filepath.Abs(cfg.cubelet)
	if err != nil {
		return err
	}
	cfg.cubelet = bin
	cfg.workDir, err = os.MkdirTemp("", "cubelet-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cfg.workDir)

	started := time.Now()
	rep := &report{cfg: cfg, started: started, machine: describeMachine(ctx)}
	logf("machine: %s", rep.machine.oneLine())

	// Others' end-to-end tests take this lock too; holding it for the whole
	// run also keeps their load off the in-process figures.
	needDocker := cfg.runs("converge") || cfg.runs("react") || cfg.runs("startup") || cfg.runs("cluster")
	if needDocker || cfg.hostLock {
		logf("taking the Docker host lock %s", hostlock.DockerHost())
		unlock, err := hostlock.Acquire(ctx, hostlock.DockerHost())
		if err != nil {
			return err
		}
		defer unlock()
	}
	if needDocker {
		h, err := newHost(cfg)
		if err != nil {
			return err
		}
		defer h.close()
		if err := h.clean(ctx); err != nil {
			return err
		}
		logf("host locked and clean")
		defer func() {
			cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer ccancel()
			if err := h.clean(cctx); err != nil {
				logf("cleanup: %v", err)
			}
		}()
		if cfg.runs("converge") || cfg.runs("startup") {
			if err := benchConverge(ctx, h, rep); err != nil {
				return fmt.Errorf("converge: %w", err)
			}
		}
		if cfg.runs("react") {
			if err := benchReact(ctx, h, rep); err != nil {
				return fmt.Errorf("react: %w", err)
			}
		}
		if cfg.runs("cluster") {
			if err := benchCluster(ctx, h, rep); err != nil {
				return fmt.Errorf("cluster: %w", err)
			}
		}
		if err := h.clean(ctx); err != nil {
			return err
		}
	}
	if cfg.runs("inprocess") {
		if err := benchInProcess(ctx, cfg, rep); err != nil {
			return fmt.Errorf("in process: %w", err)
		}
		if err := profileInProcess(ctx, cfg, rep); err != nil {
			return fmt.Errorf("in process profile: %w", err)
		}
	}
	if cfg.runs("api") {
		if err := benchAPI(ctx, cfg, rep); err != nil {
			return fmt.Errorf("api: %w", err)
		}
	}
	rep.elapsed = time.Since(started)

	fmt.Println()
	fmt.Print(rep.table())
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(rep.markdown()), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		logf("wrote %s", cfg.out)
	}
	logf("total %s", rep.elapsed.Round(time.Second))
	return nil
}

// logf prints progress to stderr, so stdout carries only the table.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}
