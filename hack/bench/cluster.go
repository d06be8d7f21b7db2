package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/scheduler"
	"github.com/cubelet/cubelet/store"
	"github.com/cubelet/cubelet/store/etcdtest"
)

// clusterCfg is the cluster section's part of the configuration; its flags
// are registered here so the section stays in its own files.
var clusterCfg struct {
	bind      int           // tasks bound over 3 nodes
	failovers int           // node kills
	perNode   int           // Always tasks per node in the failover measurement
	rounds    int           // converge: ABBA rounds of one node, three, three, one
	grace     time.Duration // --node-grace the failover runs with; 0: cubelet's default
	patience  time.Duration // a kill whose tasks are not all Running elsewhere by then fails the measurement
}

func init() {
	flag.IntVar(&clusterCfg.bind, "cluster-bind", 1000, "cluster: tasks bound over 3 nodes")
	flag.IntVar(&clusterCfg.failovers, "cluster-failovers", 10, "cluster: node kills (kill -9 and the node's containers removed)")
	flag.IntVar(&clusterCfg.perNode, "cluster-failover-tasks", 6, "cluster: Always tasks per node in the failover measurement")
	flag.IntVar(&clusterCfg.rounds, "cluster-rounds", 2, "cluster: converge ABBA rounds of one node, three nodes, three nodes, one node")
	flag.DurationVar(&clusterCfg.grace, "cluster-node-grace", 0, "cluster: cubelet --node-grace in the failover measurement (0: cubelet's default)")
	flag.DurationVar(&clusterCfg.patience, "cluster-failover-timeout", 30*time.Second, "cluster: give up on a kill whose tasks are not Running elsewhere by then")
	readings = append(readings, clusterReading)
}

// benchCluster runs the cluster measurements on one etcd (Debian's etcd
// binary, data on tmpfs through store/etcdtest): binding, converge on
// three nodes against one, and failover.
func benchCluster(ctx context.Context, h *host, rep *report) error {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		logf("cluster: no etcd binary (apt-get install etcd-server): section not run")
		rep.add(row{section: "Cluster", name: "cluster section", value: "not run", baseline: "—", result: "no etcd binary on PATH", target: "—", met: "—", detail: "apt-get install etcd-server"})
		return nil
	}
	srv, err := etcdtest.Start(ctx, bin)
	if err != nil {
		return err
	}
	defer srv.Stop()
	cli, err := srv.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	logf("cluster: etcd at %s", srv.Endpoint())
	if clusterCfg.bind > 0 {
		floorRate, err := benchBind(ctx, h, srv, cli, rep)
		if err != nil {
			return fmt.Errorf("bind: %w", err)
		}
		if err := benchBindPending(ctx, h, srv, cli, floorRate, rep); err != nil {
			return fmt.Errorf("bind waiting tasks: %w", err)
		}
	}
	if h.cfg.n > 0 && clusterCfg.rounds > 0 {
		if err := benchClusterConverge(ctx, h, srv, rep); err != nil {
			return fmt.Errorf("converge: %w", err)
		}
	}
	if clusterCfg.failovers > 0 {
		if err := benchFailover(ctx, h, srv, cli, rep); err != nil {
			return fmt.Errorf("failover: %w", err)
		}
	}
	return nil
}

// benchBind PUTs stopped tasks (desiredState Completed: the scheduler
// binds them, no container is made, so Docker is not what is timed)
// through one node of three and times from the first PUT until the watch
// has shown every one of them with spec.nodeName set. The floor is the
// same number of compare-and-swap transactions on etcd from one client,
// one after another: one bind is at least one such transaction.
func benchBind(ctx context.Context, h *host, srv *etcdtest.Server, cli *clientv3.Client, rep *report) (float64, error) {
	const prefix = "/bench-bind/"
	cl, err := h.startCluster(ctx, srv, prefix, "bench-bind", 3)
	if err != nil {
		return 0, err
	}
	defer cl.stop()
	front := cl.nodes[0]
	n := clusterCfg.bind
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("bind-%05d", i)
	}
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Minute)
	defer wcancel()
	tasks, events, err := front.watchTasks(wctx)
	if err != nil {
		return 0, err
	}
	want := make(map[string]bool, n)
	for _, name := range names {
		want[name] = true
	}
	rev0, err := revision(ctx, cli)
	if err != nil {
		return 0, err
	}
	putErr := make(chan error, 1)
	var putDone time.Duration
	start := time.Now()
	go func() {
		err := forEach(wctx, n, h.cfg.concurrency, func(i int) error {
			t := h.taskBody(names[i])
			t.Spec.DesiredState = v1.Completed
			_, err := front.do(wctx, http.MethodPut, "/v1/tasks/"+names[i], t, nil)
			return err
		})
		putDone = time.Since(start)
		putErr <- err
	}()
	bound := map[string]time.Duration{}
	perNode := map[string]int{}
	for len(bound) < n {
		select {
		case ev, ok := <-events:
			if !ok {
				return 0, fmt.Errorf("watch ended after %d of %d bound: %v\n%s", len(bound), n, wctx.Err(), front.logTail())
			}
			if err := apply(tasks, ev); err != nil {
				return 0, err
			}
			t := &ev.Object
			if want[t.Name] && t.Spec.NodeName != "" && ev.Type != "DELETED" {
				if _, seen := bound[t.Name]; !seen {
					bound[t.Name] = ev.at.Sub(start)
					perNode[t.Spec.NodeName]++
				}
			}
		case err := <-putErr:
			if err != nil {
				return 0, fmt.Errorf("PUT: %w", err)
			}
			putErr = nil
		}
	}
	if putErr != nil {
		if err := <-putErr; err != nil {
			return 0, fmt.Errorf("PUT: %w", err)
		}
	}
	rev1, err := revision(ctx, cli)
	if err != nil {
		return 0, err
	}
	var firstBound, lastBound time.Duration = time.Hour, 0
	after := 0 // bound after the last PUT was acknowledged
	for _, d := range bound {
		firstBound, lastBound = min(firstBound, d), max(lastBound, d)
		if d > putDone {
			after++
		}
	}
	afterText := "none after the last PUT"
	if after > 0 && lastBound > putDone {
		afterText = fmt.Sprintf("%d bound after the last PUT was acknowledged, at %.0f/s", after, float64(after)/(lastBound-putDone).Seconds())
	}
	rate := float64(n) / lastBound.Seconds()
	putRate := float64(n) / putDone.Seconds()
	logf("bind: %d PUT in %s (%.0f/s), bound from +%s to +%s: %.0f/s; per node %v", n, secs(putDone), putRate, ms(firstBound), ms(lastBound), rate, perNode)

	// The floor, with the bytes of a task as stored, on a quiet etcd.
	stored, err := cli.Get(ctx, prefix+"tasks/"+names[0])
	if err != nil || len(stored.Kvs) == 0 {
		return 0, fmt.Errorf("read a stored task for the floor: %v", err)
	}
	value := stored.Kvs[0].Value
	cl.stop()
	var floors durations
	for i := range 2 {
		d, err := casFloor(ctx, cli, fmt.Sprintf("/bench-floor-%d/", i), n, value)
		if err != nil {
			return 0, fmt.Errorf("etcd floor: %w", err)
		}
		floors = append(floors, d)
	}
	floorRate := float64(n) / floors.mean().Seconds()
	logf("bind floor: %d CAS transactions in %s, %s (%.0f/s)", n, secs(floors[0]), secs(floors[1]), floorRate)
	storeBinds, err := storeBindFloor(ctx, srv, "/bench-bind-store/", h.taskBody, names)
	if err != nil {
		return 0, fmt.Errorf("store floor: %w", err)
	}
	logf("bind, store alone: %d Updates in %s (%.0f/s)", n, secs(storeBinds), float64(n)/storeBinds.Seconds())

	nodes := make([]string, 0, len(perNode))
	for node, c := range perNode {
		nodes = append(nodes, fmt.Sprintf("%s %d", node, c))
	}
	sort.Strings(nodes)
	rep.add(row{
		section: "Cluster", name: fmt.Sprintf("PUT %d tasks → all bound, 3 nodes", n),
		value:    fmt.Sprintf("%.0f /s", rate),
		baseline: fmt.Sprintf("%.0f /s etcd CAS txn, one client", floorRate),
		result: fmt.Sprintf("%.0f%% of floor (%.2f vs %.2f ms each)", 100*rate/floorRate,
			float64(lastBound.Microseconds())/1000/float64(n), float64(floors.mean().Microseconds())/1000/float64(n)),
		target: "—", met: "—",
		detail: fmt.Sprintf("first PUT → all %d bound on the watch in %s; the %d PUTs (%d clients, one node's API) were acknowledged in %s (%.0f/s); "+
			"first binding seen at +%s, so binding alone ran at %.0f/s (%s); spread %s; etcd revisions until all bound: %d (%d creates, %d bindings, %d other writes: the nodes' status writes); floor runs %s, %s (value %d bytes, a stored task); "+
			"the scheduler's store call alone (store.Etcd Update setting spec.nodeName, one after another on the quiet etcd, no cubelet running): %s, %.0f/s",
			n, secs(lastBound), n, h.cfg.concurrency, secs(putDone), putRate, ms(firstBound),
			float64(n-1)/(lastBound-firstBound).Seconds(), afterText, strings.Join(nodes, ", "), rev1-rev0, n, n, rev1-rev0-2*int64(n),
			secs(floors[0]), secs(floors[1]), len(value), secs(storeBinds), float64(n)/storeBinds.Seconds()),
	})
	return floorRate, nil
}

// storeBindFloor creates the named tasks through the store package's etcd
// backend under prefix, then binds each with the store's Update (what the
// scheduler calls), one after another, and returns the time of the
// updates.
func storeBindFloor(ctx context.Context, srv *etcdtest.Server, prefix string, body func(string) *v1.Task, names []string) (time.Duration, error) {
	st, err := store.OpenEtcd(ctx, store.EtcdOptions{Endpoints: []string{srv.Endpoint()}, Prefix: prefix, NodeName: "bench-floor",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	created := make([]*v1.Task, len(names))
	if err := forEach(ctx, len(names), 16, func(i int) error {
		t := body(names[i])
		t.Spec.DesiredState = v1.Completed
		t.Finalizers = []string{v1.FinalizerContainers}
		v1.SetDefaults(t)
		out, err := st.Create(ctx, t)
		created[i] = out
		return err
	}); err != nil {
		return 0, err
	}
	start := time.Now()
	for i, t := range created {
		b := t.DeepCopy()
		b.Spec.NodeName = fmt.Sprintf("bench-bind-%d", i%3+1)
		if _, err := st.Update(ctx, b); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// revision is etcd's current revision.
func revision(ctx context.Context, cli *clientv3.Client) (int64, error) {
	resp, err := cli.Get(ctx, "/bench-revision", clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

// casFloor writes n keys, then replaces each under a compare-and-swap on
// its mod revision, one transaction after another from one client, and
// returns the time of the transactions.
func casFloor(ctx context.Context, cli *clientv3.Client, prefix string, n int, value []byte) (time.Duration, error) {
	revs := make([]int64, n)
	key := func(i int) string { return fmt.Sprintf("%sk%05d", prefix, i) }
	if err := forEach(ctx, n, 16, func(i int) error {
		resp, err := cli.Put(ctx, key(i), string(value))
		if err == nil {
			revs[i] = resp.Header.Revision
		}
		return err
	}); err != nil {
		return 0, err
	}
	start := time.Now()
	for i := range n {
		txn, err := cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key(i)), "=", revs[i])).
			Then(clientv3.OpPut(key(i), string(value))).
			Commit()
		if err != nil {
			return 0, err
		}
		if !txn.Succeeded {
			return 0, fmt.Errorf("CAS of %s lost: nobody else writes there", key(i))
		}
	}
	d := time.Since(start)
	_, err := cli.Delete(ctx, prefix, clientv3.WithPrefix())
	return d, err
}

// benchClusterConverge is converge.go's measurement (N tasks PUT through
// one cubelet's API until the watch shows all Running, then DELETE until
// all gone) on a cluster of one node against a cluster of three on the
// same Docker daemon, in ABBA rounds: one, three, three, one.
func benchClusterConverge(ctx context.Context, h *host, srv *etcdtest.Server, rep *report) error {
	one, err := h.startCluster(ctx, srv, "/bench-one/", "bench-one", 1)
	if err != nil {
		return err
	}
	defer one.stop()
	three, err := h.startCluster(ctx, srv, "/bench-three/", "bench-three", 3)
	if err != nil {
		return err
	}
	defer three.stop()

	type step struct {
		cl    *cluster
		round int
	}
	var steps []step
	for r := range clusterCfg.rounds {
		steps = append(steps, step{one, r}, step{three, r}, step{three, r}, step{one, r})
	}
	rounds := make([]struct{ one, three durations }, clusterCfg.rounds)
	var oneUp, threeUp, oneDown, threeDown durations
	spreads := []string{}
	for i, s := range steps {
		names := make([]string, h.cfg.n)
		for j := range names {
			names[j] = fmt.Sprintf("cconv%d-%03d", i, j)
		}
		front := s.cl.nodes[0]
		up, err := front.converge(ctx, names)
		if err != nil {
			return err
		}
		if s.cl == three {
			tasks, err := front.list(ctx)
			if err != nil {
				return err
			}
			per := map[string]int{}
			for _, name := range names {
				per[tasks[name].Spec.NodeName]++
			}
			counts := []string{}
			for _, n := range three.nodes {
				counts = append(counts, fmt.Sprint(per[n.name]))
			}
			spreads = append(spreads, strings.Join(counts, "/"))
		}
		down, err := s.cl.remove(ctx, names)
		if err != nil {
			return fmt.Errorf("%d node(s), step %d: %w", len(s.cl.nodes), i+1, err)
		}
		rd := &rounds[s.round]
		if s.cl == one {
			oneUp, oneDown = append(oneUp, up), append(oneDown, down)
			rd.one = append(rd.one, up)
		} else {
			threeUp, threeDown = append(threeUp, up), append(threeDown, down)
			rd.three = append(rd.three, up)
		}
		logf("cluster converge on %d node(s): PUT→Running %s, DELETE→gone %s", len(s.cl.nodes), secs(up), secs(down))
	}
	var each []float64
	var eachText []string
	for _, rd := range rounds {
		x := float64(rd.three.mean()) / float64(rd.one.mean())
		each = append(each, x)
		eachText = append(eachText, fmt.Sprintf("%.3f×", x))
	}
	ratio := float64(threeUp.mean()) / float64(oneUp.mean())
	result := fmt.Sprintf("%.3f× (spread %.3f)", ratio, slices.Max(each)-slices.Min(each))
	if len(each) == 1 {
		result = fmt.Sprintf("%.3f× (one round)", ratio)
	}
	list := func(d durations) string {
		parts := make([]string, len(d))
		for i, x := range d {
			parts[i] = secs(x)
		}
		return strings.Join(parts, ", ")
	}
	rep.add(row{
		section: "Cluster", name: fmt.Sprintf("%d tasks PUT → all Running, 3 nodes vs 1 (one daemon)", h.cfg.n),
		value: secs(threeUp.mean()), baseline: secs(oneUp.mean()) + " on 1 node",
		result: result, target: "—", met: "—",
		detail: fmt.Sprintf("%d ABBA round(s), ratio per round %s; runs: 3 nodes %s; 1 node %s; tasks per node %s; DELETE → gone 3 nodes %s, 1 node %s",
			len(rounds), strings.Join(eachText, ", "), list(threeUp), list(oneUp), strings.Join(spreads, ", "), secs(threeDown.mean()), secs(oneDown.mean())),
	})
	return nil
}

// remove is converge.go's remove through the cluster's first node: DELETE
// of every task until the watch has shown each deleted; then none of the
// cluster's nodes may have a container left. Only this cluster's
// containers are counted (io.cubelet.instance is the node name).
func (cl *cluster) remove(ctx context.Context, names []string) (time.Duration, error) {
	d, err := cl.nodes[0].timeUntil(ctx, names, http.MethodDelete, func(tasks map[string]*v1.Task) bool {
		for _, n := range names {
			if _, ok := tasks[n]; ok {
				return false
			}
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	for _, n := range cl.nodes {
		cs, err := cl.h.docker.ListContainers(ctx, controller.LabelInstance, n.name)
		if err != nil {
			return 0, err
		}
		if len(cs) != 0 {
			return 0, fmt.Errorf("remove: node %s has %d containers left after their tasks were gone (first %s)", n.name, len(cs), cs[0].Name)
		}
	}
	return d, nil
}

// kill is one node kill of the failover measurement.
type kill struct {
	victim, leader string
	tasks          int
	notReady       time.Duration            // first NotReady seen in GET /v1/nodes (polled every 100 ms)
	bound, running map[string]time.Duration // per task: bound elsewhere, Running there
}

// benchFailover kills one node of three with SIGKILL and removes its
// containers, as a host that died, and times until each task that was
// bound to it is Running on another node; then starts the node again
// under the same name and kills the next, rotating over the nodes.
func benchFailover(ctx context.Context, h *host, srv *etcdtest.Server, cli *clientv3.Client, rep *report) error {
	var extra []string
	grace := scheduler.DefaultNodeGrace
	if clusterCfg.grace > 0 {
		grace = clusterCfg.grace
		extra = []string{"--node-grace", grace.String()}
	}
	cl, err := h.startCluster(ctx, srv, "/bench-failover/", "bench-fo", 3, extra...)
	if err != nil {
		return err
	}
	defer cl.stop()
	names := make([]string, 3*clusterCfg.perNode)
	for i := range names {
		names[i] = fmt.Sprintf("fo-%02d", i)
	}
	if _, err := cl.nodes[0].converge(ctx, names); err != nil {
		return err
	}
	var kills []kill
	var failure string
	for k := range clusterCfg.failovers {
		victim, front, err := cl.pickVictim(ctx, cli, k%2 == 1)
		if err != nil {
			return err
		}
		x, err := cl.killOne(ctx, cli, victim, front)
		if err != nil {
			var slow errSlowFailover
			if errors.As(err, &slow) {
				failure = slow.Error()
				logf("failover: %v", err)
				break
			}
			return err
		}
		kills = append(kills, x)
		var worst time.Duration
		for _, d := range x.running {
			worst = max(worst, d)
		}
		logf("failover #%d: %s (%d tasks, leader %s) NotReady +%s, all Running elsewhere +%s", k+1, x.victim, x.tasks, x.leader, ms(x.notReady), ms(worst))
		if err := cl.restart(ctx, victim); err != nil {
			return err
		}
		if err := cl.waitReady(ctx, front, nil); err != nil {
			return err
		}
	}
	var notReady, bound, running, runningLeader, runningOther durations
	leaderKills, moved, empty := 0, 0, 0
	var perKill []string
	for _, x := range kills {
		if x.tasks == 0 {
			empty++
			continue
		}
		notReady = append(notReady, x.notReady)
		if x.victim == x.leader {
			leaderKills++
		}
		var worst time.Duration
		for name, d := range x.running {
			running = append(running, d)
			if x.victim == x.leader {
				runningLeader = append(runningLeader, d)
			} else {
				runningOther = append(runningOther, d)
			}
			bound = append(bound, x.bound[name])
			worst = max(worst, d)
			moved++
		}
		perKill = append(perKill, secs(worst))
	}
	// Nothing may move before the node is NotReady (its lease expired,
	// measured) and the grace has passed (configured): that sum is the
	// floor of the failover mechanism itself.
	floor := notReady.median() + grace
	r := row{
		section: "Cluster", name: "failover: kill -9 of a node → each of its tasks Running elsewhere",
		baseline: fmt.Sprintf("%s NotReady (p50, lease %s) + %s grace = %s", secs(notReady.median()), secs(store.DefaultNodeLeaseTTL), secs(grace), secs(floor)),
		target:   "p99 ≤ 10 s",
	}
	switch {
	case failure != "":
		r.value, r.result, r.met = "not measured", failure, verdict(false)
		r.detail = fmt.Sprintf("%d kills completed before this one", len(kills))
	case len(running) == 0:
		r.value, r.result, r.met = "no tasks moved", "—", verdict(false)
		r.detail = fmt.Sprintf("%d kills, each of a node without tasks", len(kills))
	default:
		p99 := running.percentile(99)
		r.value = fmt.Sprintf("p50 %s · p99 %s", secs(running.median()), secs(p99))
		r.result = fmt.Sprintf("p99 %s; p50 %+.2f s over the floor", secs(p99), (running.median() - floor).Seconds())
		r.met = verdict(p99 <= 10*time.Second)
		r.detail = fmt.Sprintf("%d kills (%d of the scheduler's leader, %d of a node with no tasks), %d tasks moved (%d Always tasks, %d containers per node at the start, --node-grace %s); "+
			"phases from the kill, p50 · max: node NotReady seen %s · %s (GET /v1/nodes every 100 ms), task bound elsewhere %s · %s, Running there %s · %s; "+
			"Running elsewhere p50 · max when the leader was killed %s · %s, another node %s · %s; slowest task per kill %s",
			len(kills), leaderKills, empty, moved, len(names), clusterCfg.perNode, grace,
			secs(notReady.median()), secs(notReady.percentile(100)), secs(bound.median()), secs(bound.percentile(100)),
			secs(running.median()), secs(running.percentile(100)),
			secs(runningLeader.median()), secs(runningLeader.percentile(100)), secs(runningOther.median()), secs(runningOther.percentile(100)),
			strings.Join(perKill, ", "))
	}
	rep.add(r)
	return nil
}

// pickVictim chooses the node to kill: the scheduler's leader, or else
// the other node with the most tasks bound (so leader and non-leader kills
// alternate, and a kill finds tasks to move); and a node to watch through.
func (cl *cluster) pickVictim(ctx context.Context, cli *clientv3.Client, leader bool) (victim, front *clusterNode, err error) {
	tasks, err := cl.nodes[0].list(ctx)
	if err != nil {
		return nil, nil, err
	}
	per := map[string]int{}
	for _, t := range tasks {
		per[t.Spec.NodeName]++
	}
	lead := cl.leader(ctx, cli)
	for _, n := range cl.nodes {
		switch {
		case leader && n.name == lead:
			victim = n
		case !leader && n.name != lead && (victim == nil || per[n.name] > per[victim.name]):
			victim = n
		}
	}
	if victim == nil {
		return nil, nil, fmt.Errorf("no node to kill (leader %q)", lead)
	}
	for _, n := range cl.nodes {
		if n != victim {
			return victim, n, nil
		}
	}
	return nil, nil, errors.New("one node only")
}

type errSlowFailover struct{ msg string }

func (e errSlowFailover) Error() string { return e.msg }

// killOne kills victim, removes its containers, and follows the tasks
// through front's watch until each that was bound to victim is Running on
// another node.
func (cl *cluster) killOne(ctx context.Context, cli *clientv3.Client, victim, front *clusterNode) (kill, error) {
	x := kill{victim: victim.name, leader: cl.leader(ctx, cli), bound: map[string]time.Duration{}, running: map[string]time.Duration{}}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tasks, events, err := front.watchTasks(wctx)
	if err != nil {
		return x, err
	}
	moving := map[string]bool{}
	for name, t := range tasks {
		if t.Spec.NodeName == victim.name && t.DeletionTimestamp == nil {
			moving[name] = true
		}
	}
	x.tasks = len(moving)

	start := time.Now()
	victim.kill()
	cs, err := cl.h.docker.ListContainers(ctx, controller.LabelInstance, victim.name)
	if err != nil {
		return x, err
	}
	if err := forEach(ctx, len(cs), 8, func(i int) error { return cl.h.docker.RemoveContainer(ctx, cs[i].ID) }); err != nil {
		return x, err
	}
	notReady := make(chan time.Duration, 1)
	go func() {
		_ = poll(wctx, 100*time.Millisecond, func() (bool, error) {
			ready, err := readiness(wctx, front.cubelet)
			if err == nil && !ready[victim.name] {
				notReady <- time.Since(start)
				return true, nil
			}
			return false, nil
		})
	}()
	deadline := time.NewTimer(clusterCfg.patience)
	defer deadline.Stop()
	seenNotReady := false
	for len(x.running) < len(moving) || !seenNotReady {
		select {
		case d := <-notReady:
			x.notReady, seenNotReady = d, true
		case ev, ok := <-events:
			if !ok {
				return x, fmt.Errorf("watch through %s ended: %v\n%s", front.name, ctx.Err(), front.logTail())
			}
			if err := apply(tasks, ev); err != nil {
				return x, err
			}
			t := &ev.Object
			if !moving[t.Name] || ev.Type == "DELETED" || t.Spec.NodeName == "" || t.Spec.NodeName == victim.name {
				continue
			}
			at := ev.at.Sub(start)
			if _, ok := x.bound[t.Name]; !ok {
				x.bound[t.Name] = at
			}
			if _, ok := x.running[t.Name]; !ok && converged(t) {
				x.running[t.Name] = at
			}
		case <-deadline.C:
			var left []string
			for name := range moving {
				if _, ok := x.running[name]; !ok {
					t := tasks[name]
					left = append(left, fmt.Sprintf("%s on %q %s/%s", name, t.Spec.NodeName, t.Status.State, t.Status.Reason))
				}
			}
			sort.Strings(left)
			return x, errSlowFailover{fmt.Sprintf("kill of %s: %d of %d tasks not Running elsewhere %s after (NotReady seen: %v): %s",
				victim.name, len(left), len(moving), secs(clusterCfg.patience), seenNotReady, strings.Join(left, "; "))}
		}
	}
	return x, nil
}

// clusterParameters is the report's line of the cluster parameters, after
// the general ones (it ends the list with a blank line).
func clusterParameters() string {
	grace := "cubelet's default " + scheduler.DefaultNodeGrace.String()
	if clusterCfg.grace > 0 {
		grace = clusterCfg.grace.String()
	}
	return fmt.Sprintf("- Cluster: one etcd member (%s) on tmpfs; bind %d tasks over 3 nodes; converge N over 3 nodes and 1, %d ABBA round(s); %d node kills over 3 nodes with %d Always tasks each, --node-grace %s\n\n",
		etcdVersion(), clusterCfg.bind, clusterCfg.rounds, clusterCfg.failovers, clusterCfg.perNode, grace)
}

// etcdVersion is the first line of `etcd --version`, or "etcd".
func etcdVersion() string {
	out, err := exec.Command("etcd", "--version").Output()
	if err != nil {
		return "etcd"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

var clusterReading = reading{
	section: "Cluster",
	method: "One etcd member (Debian's etcd binary, data on tmpfs, started by store/etcdtest) and cubelets of " +
		"the shipped binary on it, each its own node (`--node-name`) on the one Docker daemon of the bench, " +
		"each cluster under its own key prefix. **Bind (the target row):** the scheduler's own throughput, as " +
		"Kubernetes' scheduler_perf measures it: the tasks are stored (desiredState Completed, so no container " +
		"is made) while the three nodes are cordoned, one etcd transaction uncordons all three, and the clock " +
		"runs until a watch has shown every task bound. **PUT → bound:** three nodes; the tasks are PUT from 16 clients " +
		"through one node's API with `desiredState: Completed`, which the scheduler binds like any task but for " +
		"which no container is made, so Docker is not what is timed; the clock runs from the first PUT until " +
		"the API's watch stream (opened before it) has shown every task with `spec.nodeName` set. A binding is " +
		"the store's Update: a read of the task and a transaction guarded by its mod revision. The floor is the " +
		"same number of such compare-and-swap transactions (etcd's Txn, a stored task's bytes) from one client, " +
		"one after another, on the same etcd once the nodes have stopped, run twice and averaged. " +
		"**Converge:** converge's measurement (N Always tasks PUT from 16 clients until the watch shows all " +
		"Running, then DELETE until all gone) through the first node of a three-node cluster against a " +
		"one-node cluster, both on etcd and the same daemon, in ABBA rounds (one, three, three, one). " +
		"**Failover:** three nodes run 6 Always tasks each (the workload image, real containers); one node's " +
		"cubelet is killed with SIGKILL and its containers are force-removed at once (a host that died); " +
		"another node's watch stream then times each task that was bound to the dead node until it is bound " +
		"elsewhere and Running there with the container of its current spec; the dead node's NotReady is " +
		"polled on GET /v1/nodes, and the floor beside the figure is the median time to NotReady plus the " +
		"grace: nothing may move sooner. Then the node is started again under the same name and the next one is " +
		"killed: the scheduler's leader and, alternately, the other node with the most tasks, so half the kills " +
		"include the election of a new leader and each finds tasks to move (the previous kill's tasks went to the others).",
	reading: func(rows []row) string {
		return verdictLine(rows) + " **Bind:** a pass places the tasks one after another and writes the " +
			"bindings 16 at a time, each a transaction guarded by the mod revision the task was listed at " +
			"(store.Etcd.UpdateFrom: no read first, one round trip; before this round a binding was one at a " +
			"time and a read plus the transaction, 344–485/s here); the PUT row's detail gives the store's " +
			"plain Update alone, on the quiet etcd, beside the bare transaction. In the cluster each binding also makes its node's controller " +
			"write a status (the etcd revisions count them) and sends watch events to every node's informer, " +
			"the scheduler and the bench, all on the same two cores as etcd, so the binding runs at a fraction " +
			"of the bare transactions' rate; in the PUT row the PUTs, through the same API and etcd, overlap with the binding. **Failover** is bounded " +
			"below by the design: nothing moves before the node's lease has expired (renewed every 500 ms, a tenth " +
			"of its 5 s, so it expires between 4.5 and 5 s after the death, plus etcd's expiry check) and the " +
			"`--node-grace` has passed since the leader saw it (it watches the node keys, so it sees the lease " +
			"key deleted at once); on top come the binding and the new node's create and start of " +
			"the container, several at once on the one daemon. Killing the scheduler's leader adds the " +
			"election: its session lease (5 s) runs out in parallel with the node's, and the new leader's " +
			"grace starts when it first sees the node NotReady. **Converge** on three nodes of one daemon " +
			"is not what three hosts would give: the three controllers run 16 workers each, so up to 48 " +
			"Engine API calls are in flight against the one daemon where one node keeps 16, and the ratio " +
			"mixes that higher concurrency with what the cluster machinery (the scheduler's binding, three " +
			"informers and usage samplers on one etcd) costs; it says whether that machinery slows a " +
			"converge down on one daemon (a ratio within the spread of the rounds' ratios is the daemon's noise), " +
			"not how a cluster of hosts scales."
	},
}
