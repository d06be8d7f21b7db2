package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/cubelet/cubelet/cli"
	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/handlers"
	"github.com/cubelet/cubelet/runtime"
	"github.com/cubelet/cubelet/store"
	"github.com/cubelet/cubelet/usage"
)

// serveFlags are the flags of `cubelet serve`.
type serveFlags struct {
	addr            string
	dataDir         string
	workers         int
	resync          time.Duration
	logFormat       string
	logLevel        string
	dockerHost      string
	tokenFile       string
	tlsCert         string
	tlsKey          string
	backoffBase     time.Duration
	backoffMax      time.Duration
	backoffReset    time.Duration
	drainTimeout    time.Duration
	statsInterval   time.Duration
	allowHostAccess bool
	listen          listenFlags
	store           storeFlags
}

func newServeCommand() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the cubelet API, store and controller against the local Docker daemon",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return serve(ctx, f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.addr, "addr", "", "HOST:PORT to also serve the whole API on over TCP (off by default); needs --token-file, loopback included, since any local user could connect")
	fs.StringVar(&f.dataDir, "data-dir", "/var/lib/cubelet", "directory of the embedded task store; the store holds this cubelet's instance identity, so a new directory is a new instance that leaves the old one's containers alone")
	fs.IntVar(&f.workers, "workers", 16, "concurrent reconcile workers (they mostly wait on Docker; more of them also let more status writes share one fsync)")
	fs.DurationVar(&f.resync, "resync", 5*time.Minute, "period of the full relist of containers and resync of tasks")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&f.dockerHost, "docker-host", "", "Docker daemon address (default: $DOCKER_HOST or the local socket)")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token clients of --addr must send: at least 32 bytes, mode 0600 (not readable by group or others)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate file for --addr (with --tls-key)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "TLS key file (with --tls-cert)")
	fs.DurationVar(&f.backoffBase, "backoff-base", time.Second, "first crash-loop restart delay")
	fs.DurationVar(&f.backoffMax, "backoff-max", 5*time.Minute, "longest crash-loop restart delay")
	fs.DurationVar(&f.backoffReset, "backoff-reset", 10*time.Minute, "run time after which a container counts as steady and its back-off resets")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "how long in-flight reconciles may finish on shutdown")
	fs.DurationVar(&f.statsInterval, "stats-interval", usage.DefaultInterval, "how often running tasks' CPU and memory are read (at most 64 containers, 4 at a time, per interval); the readings are kept in memory only")
	f.listen.addFlags(fs)
	f.store.addFlags(fs)
	fs.BoolVar(&f.allowHostAccess, "allow-host-access", false, "reserved: cubelet has no privileged, host-network, host-PID or bind-mount settings to allow")
	return cmd
}

func serve(ctx context.Context, f serveFlags) error {
	logger, err := newLogger(f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	// client-go and apimachinery log through klog: send it to the same
	// sink, so --log-format json output is all JSON.
	klog.SetSlogLogger(logger)
	token, err := cli.ReadTokenFile(f.tokenFile)
	if err != nil {
		return err
	}
	if err := checkListenFlags(f, token); err != nil {
		return err
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}

	tasks, err := f.store.open(ctx, f.dataDir, logger)
	if err != nil {
		return err
	}
	defer tasks.Close()
	reg := prometheus.NewRegistry() // before startCluster: the scheduler's metrics go here too
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	timedTasks := store.WithWriteMetrics(tasks, reg)
	// One informer over the tasks: the controller's, and in a cluster the
	// scheduler's too. It runs once everything is wired (below).
	taskInformer := controller.NewTaskInformer(timedTasks, f.resync)
	cluster, err := f.store.startCluster(ctx, tasks, taskInformer, reg, logger)
	if err != nil {
		return err
	}
	defer cluster.stop()

	docker, err := runtime.NewDocker(f.dockerHost)
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer docker.Close()

	instance := tasks.InstanceID()
	metrics := controller.NewMetrics(reg)
	containerInformer := controller.NewContainerInformer(docker, instance, controller.ContainerInformerOptions{
		Resync: f.resync, Logger: logger, Metrics: metrics,
	})
	ctrl := controller.New(timedTasks, docker, taskInformer, containerInformer, controller.Options{
		Backoff:      controller.BackoffPolicy{Base: f.backoffBase, Max: f.backoffMax, Reset: f.backoffReset, Jitter: 0.1},
		Logger:       logger,
		Metrics:      metrics,
		QueueMetrics: controller.NewQueueMetricsProvider(reg),
		DrainTimeout: f.drainTimeout,
		NodeName:     cluster.nodeName,
		NodeLease:    cluster.fence,
	})
	reg.MustRegister(ctrl.TaskStateCollector())
	sampler := usage.New(tasks, docker, usage.Options{Interval: f.statsInterval, Logger: logger})
	reg.MustRegister(sampler.Collector())

	server, err := listen(f, handlers.Config{
		Store:       timedTasks,
		Logs:        docker,
		Ready:       readiness(ctrl, docker),
		Metrics:     promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		HTTPMetrics: handlers.NewHTTPMetrics(reg),
		Usage:       sampler,
		Logger:      logger,
	}, token, logger)
	if err != nil {
		return err
	}
	serveErr := server.serve()
	logger.Info("cubelet serving", "listeners", server.addrs(), "dataDir", f.dataDir, "instance", instance, "tls", f.tlsCert != "", "auth", token != "")

	ctrlCtx, stopCtrl := context.WithCancel(ctx)
	defer stopCtrl()
	// The informers outlive the controller's drain: in-flight reconciles
	// read their caches until the last one is done.
	informerCtx, stopInformers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopInformers()
	go taskInformer.RunWithContext(informerCtx)
	go containerInformer.RunWithContext(informerCtx)
	go sampler.Run(ctrlCtx)
	ctrlDone := make(chan error, 1)
	go func() { ctrlDone <- ctrl.Run(ctrlCtx, f.workers) }()

	select {
	case <-ctx.Done():
		logger.Info("signal received: shutting down")
	case err := <-serveErr:
		stopCtrl()
		<-ctrlDone
		return fmt.Errorf("http server: %w", err)
	case err := <-ctrlDone:
		_ = server.Close()
		if err == nil {
			err = errors.New("controller stopped unexpectedly")
		}
		return err
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.drainTimeout)
	defer cancel()
	// Watches and log streams never end on their own: cut them after a short
	// grace so the drain is bounded by the reconciles, not by clients.
	go func() {
		select {
		case <-time.After(2 * time.Second):
			_ = server.Close()
		case <-shutdownCtx.Done():
		}
	}()
	_ = server.Shutdown(shutdownCtx)
	stopCtrl()
	if err := <-ctrlDone; err != nil {
		return err
	}
	logger.Info("cubelet stopped; containers keep running")
	return nil
}

// readiness is ready once the caches synced and Docker answers.
func readiness(ctrl *controller.Controller, docker *runtime.Docker) func(context.Context) error {
	return func(ctx context.Context) error {
		select {
		case <-ctrl.Synced():
		default:
			return errors.New("informer caches not synced yet")
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := docker.Ping(ctx); err != nil {
			return fmt.Errorf("docker unreachable: %w", err)
		}
		return nil
	}
}

func newLogger(format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}
