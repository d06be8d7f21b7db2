package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store/etcdtest"
)

// cluster is a set of cubelets on one etcd under one key prefix, each its
// own node (--node-name) on the one Docker daemon of the bench.
type cluster struct {
	h      *host
	etcd   *etcdtest.Server
	prefix string
	nodes  []*clusterNode
}

// clusterNode is one cubelet of a cluster, with what it takes to start it
// again under the same name.
type clusterNode struct {
	*cubelet
	name    string
	dataDir string
	args    []string
}

var nodeSeq atomic.Int64

// startCluster starts n cubelets named <name>-1..n on the etcd under
// prefix and waits until all are ready and listed Ready.
func (h *host) startCluster(ctx context.Context, srv *etcdtest.Server, prefix, name string, n int, extra ...string) (*cluster, error) {
	cl := &cluster{h: h, etcd: srv, prefix: prefix}
	for i := range n {
		nodeName := fmt.Sprintf("%s-%d", name, i+1)
		dataDir := filepath.Join(h.cfg.workDir, nodeName)
		args := append([]string{"--etcd-endpoints", srv.Endpoint(), "--etcd-prefix", prefix, "--node-name", nodeName}, extra...)
		c, err := h.startNode(ctx, dataDir, args)
		if err != nil {
			cl.stop()
			return nil, fmt.Errorf("node %s: %w", nodeName, err)
		}
		cl.nodes = append(cl.nodes, &clusterNode{cubelet: c, name: nodeName, dataDir: dataDir, args: args})
	}
	if err := cl.waitReady(ctx, cl.nodes[0], nil); err != nil {
		cl.stop()
		return nil, err
	}
	return cl, nil
}

// startNode runs the binary on a socket of its own with its own HTTP
// clients (host.startCubelet serves one cubelet at a time) and waits for
// /readyz.
func (h *host) startNode(ctx context.Context, dataDir string, args []string) (*cubelet, error) {
	nh := &host{cfg: h.cfg, docker: h.docker}
	seq := nodeSeq.Add(1)
	socket := filepath.Join(h.cfg.workDir, fmt.Sprintf("node-%d.sock", seq))
	nh.socket.Store(&socket)
	var dialer net.Dialer
	nh.transport = &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", socket)
		}}
	nh.http = &http.Client{Transport: nh.transport, Timeout: time.Minute}
	nh.watchClient = &http.Client{Transport: nh.transport}

	logPath := filepath.Join(h.cfg.workDir, fmt.Sprintf("node-%d.log", seq))
	return nh.launch(ctx, socket, dataDir, logPath, args)
}

// restart starts a killed or stopped node again under the same name.
func (cl *cluster) restart(ctx context.Context, n *clusterNode) error {
	c, err := cl.h.startNode(ctx, n.dataDir, n.args)
	if err != nil {
		return fmt.Errorf("restart %s: %w", n.name, err)
	}
	n.cubelet = c
	return nil
}

// stop stops every node (SIGTERM; containers are left to the caller).
func (cl *cluster) stop() {
	for _, n := range cl.nodes {
		select {
		case err := <-n.done:
			n.done <- err // already gone
		default:
			if err := n.stop(); err != nil {
				logf("stop %s: %v", n.name, err)
			}
		}
	}
}

// readiness reads GET /v1/nodes through c: node name → Ready.
func readiness(ctx context.Context, c *cubelet) (map[string]bool, error) {
	var list v1.NodeList
	if _, err := c.do(ctx, http.MethodGet, "/v1/nodes", nil, &list); err != nil {
		return nil, err
	}
	ready := make(map[string]bool, len(list.Items))
	for i := range list.Items {
		ready[list.Items[i].Name] = v1.NodeIsReady(&list.Items[i])
	}
	return ready, nil
}

// waitReady polls the node list through via until every node of the
// cluster is Ready (except skip).
func (cl *cluster) waitReady(ctx context.Context, via *clusterNode, skip *clusterNode) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last map[string]bool
	err := poll(ctx, 50*time.Millisecond, func() (bool, error) {
		ready, err := readiness(ctx, via.cubelet)
		if err != nil {
			return false, err
		}
		last = ready
		for _, n := range cl.nodes {
			if n != skip && !ready[n.name] {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("nodes Ready: %w (last seen %v)", err, last)
	}
	return nil
}

// leader is the node whose scheduler leads now: the oldest candidate of
// the election (concurrency.Election keys under <prefix>scheduler-leader/).
func (cl *cluster) leader(ctx context.Context, cli *clientv3.Client) string {
	resp, err := cli.Get(ctx, cl.prefix+"scheduler-leader/", clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// timedEvent is a watch event with the moment the bench decoded it.
type timedEvent struct {
	taskEvent
	at time.Time
}

// watchTasks lists the tasks through c and watches from the list's
// resourceVersion until ctx ends; each event carries its arrival time.
func (c *cubelet) watchTasks(ctx context.Context) (map[string]*v1.Task, <-chan timedEvent, error) {
	var list v1.TaskList
	if _, err := c.do(ctx, http.MethodGet, "/v1/tasks", nil, &list); err != nil {
		return nil, nil, err
	}
	tasks := make(map[string]*v1.Task, len(list.Items))
	for i := range list.Items {
		tasks[list.Items[i].Name] = &list.Items[i]
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/tasks?watch=true&resourceVersion="+list.ResourceVersion, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.h.watchClient.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("watch: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, nil, fmt.Errorf("watch: %d", resp.StatusCode)
	}
	events := make(chan timedEvent, 4096)
	go func() {
		defer close(events)
		defer resp.Body.Close()
		dec := json.NewDecoder(resp.Body)
		for {
			var ev taskEvent
			if err := dec.Decode(&ev); err != nil {
				return
			}
			select {
			case events <- timedEvent{ev, time.Now()}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return tasks, events, nil
}

// apply folds one watch event into tasks; an ERROR event is an error.
func apply(tasks map[string]*v1.Task, ev timedEvent) error {
	switch ev.Type {
	case "ADDED", "MODIFIED":
		tasks[ev.Object.Name] = &ev.Object
	case "DELETED":
		delete(tasks, ev.Object.Name)
	case "ERROR":
		return fmt.Errorf("watch error event: %s", ev.Object.Name)
	}
	return nil
}
