// Package controller makes Docker match the stored Tasks. It owns the two
// informers (tasks from the store, containers from the engine), the
// rate-limited workqueue, the reconcile workers, the pure decision of what to
// do for one task (decide), the thin executor that does it, restart back-off,
// image pulls, the prober (liveness, readiness and startup probes, whose
// verdicts decide reads like any other observation), status writes and, in
// a cluster, the fence (fence.go): while this node's lease is not held it
// starts nothing, writes nothing and stops its own running containers.
//
// It reads desired state from the task informer's cache and observed state
// from the container informer's cache, never from memory of what it did
// before, so a sync can be killed at any line and re-run. Probe verdicts are
// the one observation that lives in memory, as kubelet's do: a restart of
// cubelet starts each container's probes over (not ready until they pass). It must never touch
// a container that lacks the managed label, and never writes a task's spec.
package controller
