package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
	"github.com/cubelet/cubelet/store/etcdtest"
)

// benchBindPending times the scheduler's own throughput, as Kubernetes'
// scheduler_perf does: n tasks wait unbound while the three nodes are
// cordoned, then one etcd transaction uncordons all three at once (so the
// leader's first pass sees every node) and the clock runs until a watch
// has shown every task bound. The tasks are stopped ones (desiredState
// Completed: bound, no container made), so Docker is not what is timed.
// The floor is the same number of compare-and-swap transactions on etcd
// from one client, one after another.
func benchBindPending(ctx context.Context, h *host, srv *etcdtest.Server, cli *clientv3.Client, floorRate float64, rep *report) error {
	const prefix = "/bench-bind-pending/"
	cl, err := h.startCluster(ctx, srv, prefix, "bench-pending", 3)
	if err != nil {
		return err
	}
	defer cl.stop()
	nodes := make([]string, len(cl.nodes))
	for i, n := range cl.nodes {
		nodes[i] = n.name
	}
	if err := setUnschedulable(ctx, cli, prefix, nodes, true); err != nil {
		return fmt.Errorf("cordon: %w", err)
	}

	st, err := store.OpenEtcd(ctx, store.EtcdOptions{Endpoints: []string{srv.Endpoint()}, Prefix: prefix, NodeName: "bench-loader",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer st.Close()
	n := clusterCfg.bind
	if err := forEach(ctx, n, h.cfg.concurrency, func(i int) error {
		t := h.taskBody(fmt.Sprintf("pending-%05d", i))
		t.Spec.DesiredState = v1.Completed
		t.Finalizers = []string{v1.FinalizerContainers}
		v1.SetDefaults(t)
		_, err := st.Create(ctx, t)
		return err
	}); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	list, err := st.List(ctx, labels.Everything())
	if err != nil {
		return err
	}
	for _, t := range list.Items {
		if t.Spec.NodeName != "" {
			return fmt.Errorf("task %s bound to %s while every node was cordoned", t.Name, t.Spec.NodeName)
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer wcancel()
	w, err := st.Watch(wctx, list.ResourceVersion)
	if err != nil {
		return err
	}
	defer w.Stop()

	start := time.Now()
	if err := setUnschedulable(ctx, cli, prefix, nodes, false); err != nil {
		return fmt.Errorf("uncordon: %w", err)
	}
	bound := map[string]bool{}
	perNode := map[string]int{}
	var first time.Duration
	for len(bound) < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("watch ended after %d of %d bound: %v", len(bound), n, wctx.Err())
			}
			t, isTask := ev.Object.(*v1.Task)
			if !isTask || ev.Type == watch.Deleted || t.Spec.NodeName == "" || bound[t.Name] {
				continue
			}
			if len(bound) == 0 {
				first = time.Since(start)
			}
			bound[t.Name] = true
			perNode[t.Spec.NodeName]++
		case <-wctx.Done():
			return fmt.Errorf("%d of %d bound after 2 minutes", len(bound), n)
		}
	}
	elapsed := time.Since(start)
	rate := float64(n) / elapsed.Seconds()
	spread := make([]string, 0, len(perNode))
	for node, c := range perNode {
		spread = append(spread, fmt.Sprintf("%s %d", node, c))
	}
	sort.Strings(spread)
	logf("bind pending: %d tasks bound in %s after the uncordon (%.0f/s), first at +%s; %s", n, secs(elapsed), rate, ms(first), strings.Join(spread, ", "))
	rep.add(row{
		section: "Cluster", name: fmt.Sprintf("bind %d waiting tasks over 3 nodes", n),
		value:    fmt.Sprintf("%.0f /s", rate),
		baseline: fmt.Sprintf("%.0f /s etcd CAS txn, one client", floorRate),
		result:   fmt.Sprintf("%.0f%% of floor", 100*rate/floorRate),
		target:   "≥ 500 /s", met: verdict(rate >= 500),
		detail: fmt.Sprintf("%d stopped tasks stored while the 3 nodes were cordoned; one etcd transaction uncordons all three, and the clock runs until a watch has shown all %d bound: %s (first binding at +%s); spread %s. "+
			"This is the scheduler's throughput (Kubernetes' scheduler_perf measures the same way: pods created first, then scheduled); the row below adds the PUTs.",
			n, n, secs(elapsed), ms(first), strings.Join(spread, ", ")),
	})
	return nil
}

// setUnschedulable sets spec.unschedulable of every named node in one etcd
// transaction, as `cubelet cordon` does for one (a Node is plain JSON
// under <prefix>nodes/<name>).
func setUnschedulable(ctx context.Context, cli *clientv3.Client, prefix string, nodes []string, unschedulable bool) error {
	var ops []clientv3.Op
	for _, name := range nodes {
		key := prefix + "nodes/" + name
		resp, err := cli.Get(ctx, key)
		if err != nil {
			return err
		}
		if len(resp.Kvs) == 0 {
			return fmt.Errorf("node %s not registered", name)
		}
		var node v1.Node
		if err := json.Unmarshal(resp.Kvs[0].Value, &node); err != nil {
			return fmt.Errorf("node %s: %w", name, err)
		}
		node.Spec.Unschedulable = unschedulable
		value, err := json.Marshal(&node)
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(key, string(value)))
	}
	_, err := cli.Txn(ctx).Then(ops...).Commit()
	return err
}
