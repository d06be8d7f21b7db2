// Package usage samples the CPU and memory of every running task's
// container and keeps a short ring of readings per task in memory, for the
// usage endpoint, the per-task Prometheus gauges, `cubelet top` and the
// dashboard.
//
// What it holds is a cache, never a record: nothing is written to the
// store, a restart of cubelet starts with empty rings, and every figure is
// re-read from the runtime. It finds containers through the tasks'
// status.containerID (the controller's word on which container is the
// task's), so it must not write tasks, talk to Docker other than through
// the runtime's ContainerStats, or decide anything about containers.
package usage
