// Command workload is the program inside cubelet's test image
// (hack/build-test-image.sh): one small static binary whose behaviour each
// end-to-end test picks with flags, or with the WORKLOAD_* environment
// variables (a flag wins over its variable).
//
//	--listen ADDR          WORKLOAD_LISTEN        serve HTTP: / (hello from <hostname>), /env, /healthz
//	--exit-after DURATION  WORKLOAD_EXIT_AFTER    exit after the delay ...
//	--exit-code N          WORKLOAD_EXIT_CODE     ... with this code
//	--ignore-sigterm       WORKLOAD_IGNORE_SIGTERM  ignore SIGTERM: only SIGKILL stops it
//	--alloc-mib N          WORKLOAD_ALLOC_MIB     allocate and touch N MiB (provokes an OOM kill under a limit)
//	--print TEXT           WORKLOAD_PRINT         print TEXT once at start
//	--print-every DURATION WORKLOAD_PRINT_EVERY   print a numbered line periodically
//	--healthy-for DURATION   /healthz answers 500 from this long after start on, and
//	                         the file /unhealthy appears (for exec probes)
//	--healthy-after DURATION /healthz answers 500 until this long after start
//	--tcp-listen ADDR        also accept TCP connections on ADDR ...
//	--tcp-close-after DURATION ... and close that listener after the delay
//	--probe-exit N           exit at once with code N: an exec probe's command
//	--probe-absent PATH      exit at once, 0 when PATH does not exist, 1 when it does
//
// Without --exit-after it runs until signalled. Its first line,
// "workload <hostname> started", is printed once signals are handled. SIGTERM and SIGINT make it
// exit 0 at once unless --ignore-sigterm. It logs to stdout. It uses the
// standard library only, so it builds into a FROM scratch image.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"time"
)

type config struct {
	listen        string
	exitAfter     time.Duration
	exitCode      int
	ignoreSIGTERM bool
	allocMiB      int
	busyCores     int
	print         string
	printEvery    time.Duration
	healthyFor    time.Duration
	healthyAfter  time.Duration
	tcpListen     string
	tcpCloseAfter time.Duration
	probeExit     *int // nil unless --probe-exit was given
	probeAbsent   string
}

// unhealthyMarker is the file --healthy-for creates when /healthz turns
// unhealthy, for exec probes (`/workload --probe-absent /unhealthy`): the
// image is FROM scratch, so a probe's command can only be this binary.
const unhealthyMarker = "/unhealthy"

func main() {
	// Catch signals before anything else: until a Go program asks for
	// SIGTERM, the runtime treats it as fatal, and as PID 1 that means exit
	// code 2 instead of the promised 0.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	cfg, err := parseConfig(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "workload:", err)
		os.Exit(2)
	}
	if code, ok := probe(cfg); ok {
		os.Exit(code)
	}
	os.Exit(run(cfg, sigs))
}

// parseConfig reads the flags, with the environment as their defaults.
func parseConfig(args []string, getenv func(string) string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("workload", flag.ContinueOnError)
	fs.StringVar(&cfg.listen, "listen", getenv("WORKLOAD_LISTEN"), "serve HTTP on this address")
	fs.StringVar(&cfg.print, "print", getenv("WORKLOAD_PRINT"), "print this text once at start")
	fs.BoolVar(&cfg.ignoreSIGTERM, "ignore-sigterm", false, "ignore SIGTERM")
	fs.DurationVar(&cfg.exitAfter, "exit-after", 0, "exit after this delay")
	fs.IntVar(&cfg.exitCode, "exit-code", 0, "exit code for --exit-after")
	fs.IntVar(&cfg.allocMiB, "alloc-mib", 0, "allocate and touch this many MiB")
	fs.IntVar(&cfg.busyCores, "busy-cores", 0, "keep this many cores busy (a spinning goroutine each)")
	fs.DurationVar(&cfg.printEvery, "print-every", 0, "print a numbered line this often")
	fs.DurationVar(&cfg.healthyFor, "healthy-for", 0, "/healthz fails from this long after start on")
	fs.DurationVar(&cfg.healthyAfter, "healthy-after", 0, "/healthz fails until this long after start")
	fs.StringVar(&cfg.tcpListen, "tcp-listen", "", "also accept TCP connections here")
	fs.DurationVar(&cfg.tcpCloseAfter, "tcp-close-after", 0, "close the --tcp-listen listener after this delay")
	fs.Func("probe-exit", "exit at once with this code", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return err
		}
		cfg.probeExit = &n
		return nil
	})
	fs.StringVar(&cfg.probeAbsent, "probe-absent", "", "exit at once: 0 when this path does not exist, 1 when it does")

	envDefaults := []struct {
		flag, env string
	}{
		{"ignore-sigterm", "WORKLOAD_IGNORE_SIGTERM"},
		{"exit-after", "WORKLOAD_EXIT_AFTER"},
		{"exit-code", "WORKLOAD_EXIT_CODE"},
		{"alloc-mib", "WORKLOAD_ALLOC_MIB"},
		{"print-every", "WORKLOAD_PRINT_EVERY"},
	}
	for _, d := range envDefaults {
		if v := getenv(d.env); v != "" {
			if err := fs.Set(d.flag, v); err != nil {
				return config{}, fmt.Errorf("%s=%q: %w", d.env, v, err)
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return cfg, nil
}

// probe runs the one-shot commands of exec probes; ok is false when cfg
// asks for none.
func probe(cfg config) (code int, ok bool) {
	switch {
	case cfg.probeExit != nil:
		fmt.Printf("probe: exit %d\n", *cfg.probeExit)
		return *cfg.probeExit, true
	case cfg.probeAbsent != "":
		if _, err := os.Stat(cfg.probeAbsent); err == nil {
			fmt.Printf("probe: %s exists\n", cfg.probeAbsent)
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// run does what cfg says and returns the exit code. sigs delivers SIGTERM
// and SIGINT; with cfg.ignoreSIGTERM, SIGTERM is ignored from here on.
func run(cfg config, sigs <-chan os.Signal) int {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	if cfg.ignoreSIGTERM {
		signal.Ignore(syscall.SIGTERM)
	}

	host, _ := os.Hostname()
	// Tests wait for this line to know the signal disposition is in place.
	fmt.Printf("workload %s started (pid %d)\n", host, os.Getpid())
	if cfg.print != "" {
		fmt.Println(cfg.print)
	}

	var held []byte
	if cfg.allocMiB > 0 {
		held = allocate(cfg.allocMiB)
		fmt.Printf("allocated %d MiB\n", cfg.allocMiB)
	}

	if cfg.printEvery > 0 {
		go printEvery(ctx, cfg.printEvery)
	}
	for range cfg.busyCores {
		go spin(ctx)
	}

	started := time.Now()
	if cfg.healthyFor > 0 {
		time.AfterFunc(cfg.healthyFor, func() {
			fmt.Println("turning unhealthy")
			if err := os.WriteFile(unhealthyMarker, nil, 0o644); err != nil {
				fmt.Printf("write %s: %v\n", unhealthyMarker, err)
			}
		})
	}
	healthy := func() bool {
		up := time.Since(started)
		return (cfg.healthyFor == 0 || up < cfg.healthyFor) && up >= cfg.healthyAfter
	}
	if cfg.tcpListen != "" {
		if err := serveTCP(cfg.tcpListen, cfg.tcpCloseAfter); err != nil {
			fmt.Printf("tcp listen: %v\n", err)
			return 1
		}
	}

	serveErr := make(chan error, 1)
	var srv *http.Server
	if cfg.listen != "" {
		srv = &http.Server{Addr: cfg.listen, Handler: handler(host, healthy), ReadHeaderTimeout: 5 * time.Second}
		go func() { serveErr <- srv.ListenAndServe() }()
		fmt.Printf("listening on %s\n", cfg.listen)
	}

	var exitTimer <-chan time.Time
	if cfg.exitAfter > 0 {
		exitTimer = time.After(cfg.exitAfter)
	}

	code := 0
	select {
	case s := <-sigs:
		fmt.Printf("received %v, exiting\n", s)
	case <-exitTimer:
		fmt.Printf("exiting with code %d after %v\n", cfg.exitCode, cfg.exitAfter)
		code = cfg.exitCode
	case err := <-serveErr:
		fmt.Printf("http server: %v\n", err)
		code = 1
	}
	if srv != nil {
		shutdownCtx, cancel := context.WithTimeout(ctx, time.Second)
		if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			fmt.Printf("http shutdown: %v\n", err)
		}
		cancel()
	}
	runtime.KeepAlive(held) // hold the allocation until exit
	return code
}

// serveTCP accepts and closes connections on addr, and stops listening
// after closeAfter when it is positive: a TCP probe's target that goes away.
func serveTCP(addr string, closeAfter time.Duration) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("tcp listening on %s\n", addr)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if closeAfter > 0 {
		time.AfterFunc(closeAfter, func() {
			fmt.Printf("closing tcp listener %s\n", addr)
			l.Close()
		})
	}
	return nil
}

func handler(host string, healthy func() bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", host)
	})
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, _ *http.Request) {
		env := os.Environ()
		sort.Strings(env)
		for _, kv := range env {
			fmt.Fprintln(w, kv)
		}
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !healthy() {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// allocate returns n MiB with every page written, so the memory is really
// charged to the process (and to its cgroup).
func allocate(n int) []byte {
	b := make([]byte, n<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	return b
}

// spin burns one core until ctx ends, for CPU usage tests.
func spin(ctx context.Context) {
	for n := uint64(0); ; n++ {
		if n%(1<<20) == 0 && ctx.Err() != nil {
			return
		}
	}
}

func printEvery(ctx context.Context, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fmt.Println("line " + strconv.Itoa(i))
		}
	}
}
