package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/cache"

	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/hoststats"
	"github.com/cubelet/cubelet/scheduler"
	"github.com/cubelet/cubelet/store"
)

// storeFlags choose the task store of `cubelet serve`: the embedded bbolt
// store in --data-dir (the default, one host), or an etcd cluster shared
// by several cubelets (--etcd-endpoints).
type storeFlags struct {
	etcdEndpoints []string
	etcdCert      string
	etcdKey       string
	etcdCA        string
	etcdPrefix    string
	nodeName      string
	nodeLabels    map[string]string
	nodeGrace     time.Duration
	fence         bool
}

func (f *storeFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&f.etcdEndpoints, "etcd-endpoints", nil, "etcd client URLs (comma-separated): keep tasks in this etcd cluster, shared with other cubelets, instead of the embedded store in --data-dir")
	fs.StringVar(&f.etcdCert, "etcd-cert", "", "client certificate file for https etcd endpoints (with --etcd-key)")
	fs.StringVar(&f.etcdKey, "etcd-key", "", "client key file for https etcd endpoints (with --etcd-cert)")
	fs.StringVar(&f.etcdCA, "etcd-ca", "", "CA certificate file that signed the etcd servers' certificates (default: the system's roots)")
	fs.StringVar(&f.etcdPrefix, "etcd-prefix", "/cubelet/", "etcd key prefix of this cluster's objects; cubelets sharing tasks use the same one")
	fs.StringToStringVar(&f.nodeLabels, "node-labels", nil, "with --etcd-endpoints: labels of this node (k=v,...), matched by tasks' spec.nodeSelector")
	fs.StringVar(&f.nodeName, "node-name", "", "with --etcd-endpoints: this cubelet's node name, its identity in the cluster, carried by its containers; unique per cubelet and kept across restarts (default: the hostname, lower-cased)")
	fs.BoolVar(&f.fence, "fence", true, "with --etcd-endpoints: stop this node's containers when it can no longer count on its lease (etcd out of reach for about the lease's TTL), before the leader runs its tasks elsewhere; --fence=false leaves them running, so a node cut off from etcd may run a task while another node runs it too")
	fs.DurationVar(&f.nodeGrace, "node-grace", scheduler.DefaultNodeGrace, "with --etcd-endpoints: how long a node stays NotReady (its lease expired) before the scheduler's leader moves its tasks: restartable ones to other nodes, Never ones end Failed/NodeLost")
}

// taskStore is what serve needs of either backend.
type taskStore interface {
	store.Interface
	// InstanceID names the instance whose containers this cubelet owns:
	// the bbolt store's UUID, or the node name on etcd.
	InstanceID() string
	Close() error
}

// open opens the store the flags choose.
func (f *storeFlags) open(ctx context.Context, dataDir string, logger *slog.Logger) (taskStore, error) {
	if len(f.etcdEndpoints) == 0 {
		if f.etcdCert != "" || f.etcdKey != "" || f.etcdCA != "" || f.nodeName != "" || len(f.nodeLabels) > 0 {
			return nil, errors.New("--etcd-cert, --etcd-key, --etcd-ca, --node-name and --node-labels need --etcd-endpoints")
		}
		tasks, err := store.OpenDir(dataDir, store.Options{})
		if err != nil {
			return nil, fmt.Errorf("open store in %s: %w", dataDir, err)
		}
		return tasks, nil
	}
	opts, err := f.etcdOptions(os.Hostname)
	if err != nil {
		return nil, err
	}
	opts.Logger = logger
	tasks, err := store.OpenEtcd(ctx, opts)
	if err != nil {
		return nil, err
	}
	logger.Info("task store on etcd", "endpoints", opts.Endpoints, "prefix", opts.Prefix, "node", opts.NodeName, "tls", opts.TLS != nil)
	return tasks, nil
}

// etcdOptions checks the etcd flags and builds the store's options.
// hostname is os.Hostname, a parameter for tests.
func (f *storeFlags) etcdOptions(hostname func() (string, error)) (store.EtcdOptions, error) {
	opts := store.EtcdOptions{Prefix: f.etcdPrefix, NodeName: f.nodeName}
	secure := 0
	for _, e := range f.etcdEndpoints {
		u, err := url.Parse(e)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return opts, fmt.Errorf("--etcd-endpoints: %q is not an http:// or https:// URL", e)
		}
		if u.Scheme == "https" {
			secure++
		}
		opts.Endpoints = append(opts.Endpoints, e)
	}
	tlsFlags := f.etcdCert != "" || f.etcdKey != "" || f.etcdCA != ""
	switch {
	case secure != 0 && secure != len(opts.Endpoints):
		return opts, errors.New("--etcd-endpoints: mix of http:// and https:// endpoints; one cluster has one scheme")
	case tlsFlags && secure == 0:
		// Certificates for a plain-text connection would be ignored
		// without a word: refuse, so nobody believes etcd is encrypted.
		return opts, errors.New("--etcd-cert, --etcd-key and --etcd-ca need https:// endpoints")
	case (f.etcdCert == "") != (f.etcdKey == ""):
		return opts, errors.New("--etcd-cert and --etcd-key go together")
	}
	if secure > 0 {
		cfg, err := f.tlsConfig()
		if err != nil {
			return opts, err
		}
		opts.TLS = cfg
	}
	if opts.NodeName == "" {
		h, err := hostname()
		if err != nil {
			return opts, fmt.Errorf("node name from the hostname: %w (set --node-name)", err)
		}
		opts.NodeName = strings.ToLower(h)
	}
	return opts, nil
}

func (f *storeFlags) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.etcdCert != "" {
		cert, err := tls.LoadX509KeyPair(f.etcdCert, f.etcdKey)
		if err != nil {
			return nil, fmt.Errorf("--etcd-cert/--etcd-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if f.etcdCA != "" {
		pem, err := os.ReadFile(f.etcdCA)
		if err != nil {
			return nil, fmt.Errorf("--etcd-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--etcd-ca: no PEM certificate in %s", f.etcdCA)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// minNodeGrace is the shortest --node-grace accepted.
const minNodeGrace = time.Second

// cluster is what a cubelet on etcd runs besides the store: its node's
// registration and the scheduler. Both are absent on a single host.
type cluster struct {
	// nodeName is this cubelet's node; "" on a single host.
	nodeName string
	// fence is the node's lease for the controller's fencing; nil on a
	// single host and with --fence=false.
	fence controller.NodeLease
	stop  func()
}

// startCluster registers this cubelet's node (labels from --node-labels,
// capacity from the host) on a lease and starts the scheduler, which binds
// and fails over only while it leads; its metrics go to reg. On the
// embedded store it does nothing.
func (f *storeFlags) startCluster(ctx context.Context, tasks taskStore, informer cache.SharedIndexInformer, reg prometheus.Registerer, logger *slog.Logger) (*cluster, error) {
	e, ok := tasks.(*store.Etcd)
	if !ok {
		return &cluster{stop: func() {}}, nil
	}
	// The grace is what keeps a fenced node's copies apart from their
	// replacements: the fence starts half a second before etcd may expire
	// the lease and its stops took up to 1.2 s in the partition tests, so
	// a leader that moved tasks sooner than a second after the expiry
	// could start a copy while the old one still runs.
	if f.nodeGrace < minNodeGrace {
		return nil, fmt.Errorf("--node-grace %s: must be at least %s (the fence's time to stop this node's containers after its lease expired; docs/cluster.md, Fencing)", f.nodeGrace, minNodeGrace)
	}
	if errs := metav1validation.ValidateLabels(f.nodeLabels, field.NewPath("--node-labels")); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	capacity := map[string]resource.Quantity{
		"cpu": *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		if mi, err := hoststats.ParseMemInfo(data); err == nil {
			capacity["memory"] = *resource.NewQuantity(int64(mi.MemTotal)*1024, resource.BinarySI)
		}
	}
	lease, err := e.RegisterNode(ctx, store.NodeRegistration{Labels: f.nodeLabels, Capacity: capacity, Metrics: reg})
	if err != nil {
		return nil, err
	}
	sched := scheduler.New(scheduler.Options{
		Client: e.Client(), Prefix: e.Prefix(), NodeName: e.InstanceID(),
		Tasks: e, Informer: informer, Nodes: e, NodeGrace: f.nodeGrace, Registerer: reg,
		Logger: logger.With("component", "scheduler"),
	})
	schedCtx, stopSched := context.WithCancel(ctx)
	schedDone := make(chan struct{})
	go func() {
		defer close(schedDone)
		_ = sched.Run(schedCtx)
	}()
	logger.Info("node registered", "node", e.InstanceID(), "labels", f.nodeLabels, "cpus", goruntime.NumCPU(), "leaseTTL", store.DefaultNodeLeaseTTL)
	c := &cluster{nodeName: e.InstanceID(), fence: lease, stop: func() {
		stopSched()
		<-schedDone
		lease.Stop()
	}}
	if !f.fence {
		c.fence = nil
		logger.Warn("fencing is off (--fence=false): cut off from etcd, this node keeps its containers running while the leader may start its tasks on other nodes")
	}
	return c, nil
}
