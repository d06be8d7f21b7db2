package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store/etcdtest"
)

func waitReady(t *testing.T, e *Etcd, name string, want bool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n, err := e.GetNode(context.Background(), name)
		if err != nil {
			t.Fatalf("get node %s: %v", name, err)
		}
		if v1.NodeIsReady(n) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s ready=%v after %v, want %v", name, !want, within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A registered node is Ready while its lease is renewed (past several
// TTLs), NotReady once the lease is gone, and still listed then.
func TestEtcd_NodeLease_ReadyWhileRenewedNotReadyAfter(t *testing.T) {
	prefix := fmt.Sprintf("/test/nodelease-%d/", etcdStores.Add(1))
	a := openTestEtcd(t, EtcdOptions{Prefix: prefix, NodeName: "node-a"})
	b := openTestEtcd(t, EtcdOptions{Prefix: prefix, NodeName: "node-b"})
	ctx := context.Background()
	la, err := a.RegisterNode(ctx, NodeRegistration{
		Labels:   map[string]string{"disk": "ssd"},
		Capacity: map[string]resource.Quantity{"cpu": resource.MustParse("2"), "memory": resource.MustParse("1Gi")},
		TTL:      2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer la.Stop()
	lb, err := b.RegisterNode(ctx, NodeRegistration{TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	list, err := a.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 || list.Items[0].Name != "node-a" || list.Items[1].Name != "node-b" {
		t.Fatalf("nodes %+v, want node-a and node-b", list.Items)
	}
	got := list.Items[0]
	if !v1.NodeIsReady(&got) || got.Labels["disk"] != "ssd" || !got.Status.Capacity["cpu"].Equal(resource.MustParse("2")) {
		t.Errorf("node-a %+v: want Ready, disk=ssd, cpu 2", got)
	}

	// Renewed well past the TTL: still Ready. (This waits on purpose:
	// what is tested is that time passing does not expire the lease.)
	time.Sleep(5 * time.Second)
	waitReady(t, a, "node-a", true, 0)

	// Stop lets the lease expire: Ready until the TTL has run out (a
	// restart within it moves nothing), NotReady after.
	stopped := time.Now()
	lb.Stop()
	waitReady(t, a, "node-b", false, 4*time.Second)
	if d := time.Since(stopped); d < time.Second {
		t.Errorf("node-b NotReady %v after Stop: the lease (TTL 2s, renewed every ⅓ TTL) must be left to expire, not revoked", d)
	}
	if _, err := a.GetNode(ctx, "node-c"); !apierrors.IsNotFound(err) {
		t.Errorf("get node-c: %v, want NotFound", err)
	}

	// A cordon survives a re-registration.
	if err := a.SetNodeUnschedulable(ctx, "node-b", true); err != nil {
		t.Fatal(err)
	}
	lb2, err := b.RegisterNode(ctx, NodeRegistration{TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	n, err := a.GetNode(ctx, "node-b")
	if err != nil {
		t.Fatal(err)
	}
	if !v1.NodeIsReady(n) || !n.Spec.Unschedulable {
		t.Errorf("node-b after re-registration: ready=%v unschedulable=%v, want both", v1.NodeIsReady(n), n.Spec.Unschedulable)
	}

	// Leave revokes: NotReady well before the TTL could have run out.
	lb2.Leave()
	waitReady(t, a, "node-b", false, time.Second)
}

// A lease lost while the cubelet lives (etcd revoked it: a partition
// longer than the TTL looks the same) is replaced by a new one.
func TestEtcd_NodeLease_LostLeaseRegistersAgain(t *testing.T) {
	prefix := fmt.Sprintf("/test/nodelease-%d/", etcdStores.Add(1))
	a := openTestEtcd(t, EtcdOptions{Prefix: prefix, NodeName: "node-a"})
	ctx := context.Background()
	l, err := a.RegisterNode(ctx, NodeRegistration{TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	l.mu.Lock()
	first := l.lease
	l.mu.Unlock()
	c := rawClient(t)
	if _, err := c.Revoke(ctx, first); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.mu.Lock()
		cur := l.lease
		l.mu.Unlock()
		n, err := a.GetNode(ctx, "node-a")
		if err != nil {
			t.Fatal(err)
		}
		if cur != first && v1.NodeIsReady(n) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no new lease 5s after the first was revoked")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A node's lease is Held while it is renewed; Held turns false within the
// TTL after etcd stops answering (SIGSTOP: connections stay open, nothing
// answers), on the node's own count, without any keep-alive response; and
// true again on a new lease once etcd answers again. The metrics follow.
func TestEtcd_NodeLease_HeldUntilTTLMinusMarginAfterEtcdStopsAnswering(t *testing.T) {
	binary := etcdtest.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := etcdtest.Start(ctx, binary)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(srv.Stop) // after the store's Close, registered below
	e := openTestEtcd(t, EtcdOptions{Endpoints: []string{srv.Endpoint()}, NodeName: "node-a", DialTimeout: 3 * time.Second})
	reg := prometheus.NewRegistry()
	const ttl = 2 * time.Second
	l, err := e.RegisterNode(ctx, NodeRegistration{TTL: ttl, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	if !l.Held() || testutil.ToFloat64(l.metrics.held) != 1 {
		t.Fatalf("just registered: Held %v, cubelet_node_lease_held %v; want true, 1", l.Held(), testutil.ToFloat64(l.metrics.held))
	}

	// Renewed past the TTL: Held throughout. (This waits on purpose: what
	// is tested is that time passing does not end it.)
	for end := time.Now().Add(ttl + time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if !l.Held() {
			t.Fatal("lease not held while etcd renews it")
		}
	}
	if n := testutil.ToFloat64(l.metrics.renewals); n < 2 {
		t.Errorf("cubelet_node_lease_renewals_total = %v after %s, want at least 2", n, ttl+time.Second)
	}
	l.mu.Lock()
	first := l.lease
	l.mu.Unlock()

	changed := l.Changed()
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	defer func() { _ = srv.Resume() }() // a failed test must not leave etcd stopped
	// lastAck is before the pause, so Held ends by paused+TTL−margin.
	select {
	case <-changed:
	case <-time.After(ttl):
		t.Fatalf("lease still held %s after etcd stopped answering (TTL %s)", time.Since(paused), ttl)
	}
	if l.Held() {
		t.Fatal("Changed fired, Held still true")
	}
	t.Logf("not held %s after etcd stopped answering (TTL %s, margin %s)", time.Since(paused).Round(time.Millisecond), ttl, NodeLeaseSafetyMargin)
	if got := testutil.ToFloat64(l.metrics.held); got != 0 {
		t.Errorf("cubelet_node_lease_held = %v, want 0", got)
	}
	if got := testutil.ToFloat64(l.metrics.failures.WithLabelValues("lost")); got != 1 {
		t.Errorf(`cubelet_node_lease_failures_total{reason="lost"} = %v, want 1`, got)
	}

	// Keep etcd stopped until the client gives the lease up (its own
	// timeout, a TTL without answer), so the lease comes back as a new one.
	deadline := time.Now().Add(3 * ttl)
	for {
		l.mu.Lock()
		gaveUp := l.deadline.IsZero()
		l.mu.Unlock()
		if gaveUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the keep-alive never ended while etcd was stopped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// And a little longer (on purpose: what is tested is a registration
	// whose grant waited for etcd longer than TTL − margin): that grant,
	// answered on resume, proves too little to hold the lease on.
	time.Sleep(ttl)
	changed = l.Changed()
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(15 * time.Second):
		t.Fatal("lease not held again 15s after etcd answers again")
	}
	l.mu.Lock()
	second := l.lease
	l.mu.Unlock()
	if !l.Held() || second == first {
		t.Fatalf("after resume: Held %v, lease %x (was %x); want held on a new lease", l.Held(), second, first)
	}
	waitReady(t, e, "node-a", true, 5*time.Second)
	if got := testutil.ToFloat64(l.metrics.held); got != 1 {
		t.Errorf("cubelet_node_lease_held = %v after re-registering, want 1", got)
	}
	// A grant answered long after it was sent (it waited for etcd) is not
	// counted as held and lost again: one loss in all.
	if got := testutil.ToFloat64(l.metrics.failures.WithLabelValues("lost")); got != 1 {
		t.Errorf(`cubelet_node_lease_failures_total{reason="lost"} = %v after re-registering, want 1`, got)
	}
	names := map[string]bool{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, want := range []string{"cubelet_node_lease_renewals_total", "cubelet_node_lease_failures_total", "cubelet_node_lease_held"} {
		if !names[want] {
			t.Errorf("metric %s not registered (have %v)", want, names)
		}
	}

	l.Stop()
	if l.Held() {
		t.Error("Held after Stop")
	}
}
