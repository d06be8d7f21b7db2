package e2e

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cubelet/cubelet/controller"
	"github.com/cubelet/cubelet/store"
)

// TestE2E_Etcd_TaskSurvivesKill9_NotRestarted runs cubelet on a real etcd
// (--etcd-endpoints): a task put through the API runs; cubelet is killed
// with SIGKILL and started again; the task is still in etcd, and the
// restarted cubelet, reconciling it, leaves its container alone: same
// container, same start, nothing created or started. Its containers
// carry the node name as their instance.
func TestE2E_Etcd_TaskSurvivesKill9_NotRestarted(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := startEtcd(ctx, t)

	const node = "e2e-etcd-node"
	flags := []string{"--etcd-endpoints", srv.Endpoint(), "--etcd-prefix", "/e2e/", "--node-name", node, "--log-level", "debug"}
	c := e.start(flags...)
	c.put(e.task("etcd-web"))
	before := c.waitRunning("etcd-web")
	cs := e.containers("etcd-web")
	if len(cs) != 1 || cs[0].ID != before.Status.ContainerID || cs[0].Labels[controller.LabelInstance] != node {
		t.Fatalf("containers of etcd-web: %+v, want one, %s, of instance %s", cs, before.Status.ContainerID, node)
	}
	started := cs[0].StartedAt

	c.kill9()
	// The task lives in etcd, not in the data dir.
	if _, err := os.Stat(filepath.Join(e.dataDir, store.FileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("bbolt store file in --data-dir with --etcd-endpoints: %v", err)
	}
	raw, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	resp, err := raw.Get(ctx, "/e2e/tasks/etcd-web")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("etcd key /e2e/tasks/etcd-web after kill -9: %v (%d keys)", err, len(resp.Kvs))
	}

	c = e.start(flags...)
	// The restarted cubelet's own word that it reconciled the task and
	// found nothing to do; only then is "not restarted" a finding.
	eventually(t, 30*time.Second, "a reconcile of etcd-web after the restart", func() (bool, string) {
		for _, l := range logLines(c.logs.String(), "reconcile") {
			if l["task"] == "etcd-web" {
				return true, ""
			}
		}
		return false, "no reconcile line yet"
	})
	for _, l := range logLines(c.logs.String(), "reconcile") {
		if l["task"] == "etcd-web" && l["action"] != "none" {
			t.Errorf("restarted cubelet acted on etcd-web: %v", l)
		}
	}
	after, code := c.get("etcd-web")
	if code != 200 || after.UID != before.UID || after.Status.ContainerID != before.Status.ContainerID || after.Status.RestartCount != 0 {
		t.Errorf("after the restart: %d uid %s container %s restarts %d; want uid %s container %s restarts 0",
			code, after.UID, after.Status.ContainerID, after.Status.RestartCount, before.UID, before.Status.ContainerID)
	}
	cs = e.containers("etcd-web")
	if len(cs) != 1 || cs[0].ID != before.Status.ContainerID || !cs[0].Running() || !cs[0].StartedAt.Equal(started) {
		t.Errorf("containers of etcd-web after the restart: %+v; want %s still running since %s", cs, before.Status.ContainerID, started)
	}
}
