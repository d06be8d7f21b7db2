package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/cubelet/cubelet/apis/v1"
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

	// A lease that is no longer renewed expires; simulate a dead process
	// by revoking behind the store's back (Stop revokes too).
	lb.Stop()
	waitReady(t, a, "node-b", false, 4*time.Second)
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
	defer lb2.Stop()
	n, err := a.GetNode(ctx, "node-b")
	if err != nil {
		t.Fatal(err)
	}
	if !v1.NodeIsReady(n) || !n.Spec.Unschedulable {
		t.Errorf("node-b after re-registration: ready=%v unschedulable=%v, want both", v1.NodeIsReady(n), n.Spec.Unschedulable)
	}
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
