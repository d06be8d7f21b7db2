package main

import (
	"fmt"
	"strings"
)

// reading explains one section of the report: how it was measured, and
// what its figures mean. The explanations of causes were established with
// pprof (-cpuprofile, -memprofile) and stay true while the code keeps its
// shape; the verdicts come from the figures of the run.
type reading struct {
	section string
	method  string
	reading func(rows []row) string
}

// missed lists the rows of a section that missed their targets.
func missed(rows []row) []string {
	var out []string
	for _, x := range rows {
		if x.met == verdict(false) {
			out = append(out, x.name)
		}
	}
	return out
}

// verdictLine opens a reading: all met, or which were missed.
func verdictLine(rows []row) string {
	m := missed(rows)
	if len(m) == 0 {
		return "All targets met in this run."
	}
	return fmt.Sprintf("Missed in this run: %s.", strings.Join(m, "; "))
}

var readings = []reading{
	{
		section: "Converge",
		method: "N tasks are PUT through the HTTP API of the real binary (no -race, `--workers 16`) " +
			"from 16 concurrent clients; the clock stops when the API's watch stream (opened before the first " +
			"request) shows " +
			"every task Running with the container of its current spec. The baseline is 16 goroutines " +
			"calling the Engine API's create and start for N containers of the same image and arguments, " +
			"through the same Go client cubelet uses (runtime.Docker), labelled `io.cubelet.bench=raw`. " +
			"Remove is DELETE of every task until the watch has shown each deleted (the controller has stopped and removed " +
			"each container and released the finalizer) against force-remove of the raw containers. " +
			"The rounds run in ABBA order (raw, cubelet, cubelet, raw), three of them by default; each round " +
			"gives a ratio of its own (the mean of its two cubelet runs over the mean of its two raw runs), " +
			"the verdict is on the mean of all runs, and the spread of the rounds' ratios is stated beside " +
			"it: a margin smaller than the spread is noise.",
		reading: func(rows []row) string {
			return verdictLine(rows) + " Docker's own work dominates both sides: each container costs the " +
				"daemon tens of milliseconds of create and start (network namespace, overlay mount, " +
				"runc), while cubelet's additions per task — a durable PUT, one durable status write " +
				"and the round trip of the start event through the informer — are a few milliseconds " +
				"and overlap with Docker's work, since 16 workers keep the daemon as busy as 16 raw " +
				"clients do. Removal is not the same call on both sides: cubelet stops each container " +
				"gracefully (SIGTERM, which the workload obeys at once, then remove) where the baseline " +
				"SIGKILLs with `rm -f`, so cubelet makes two engine calls per container. A ratio within " +
				"a few percent of 1.0 either way is run-to-run noise of the daemon on this machine; " +
				"the spread of the rounds' ratios says how large that noise was in this run. A lesson from writing this bench: " +
				"its first version polled GET /v1/tasks every 10 ms to see the tasks converge and measured " +
				"cubelet 1.47× slower than raw — re-encoding the list a hundred times a second took CPU " +
				"that Docker (fuse-overlayfs, two cores) needed. Following the watch stream instead " +
				"brought the ratio to about 1.0: clients that wait for tasks should watch, not poll."
		},
	},
	{
		section: "React",
		method: "Kills rotate over 10 tasks of each kind (and 10 Docker containers), so every container " +
			"has run longer than the back-off reset before it is killed again: cubelet runs with " +
			"`--backoff-reset 1s`, and Docker's restart manager doubles its 100 ms delay for a " +
			"container that ran under 10 s, so the bench waits 10.5 s per floor container. " +
			"`docker rm -f` is the Engine API's force remove of the task's container; the clock runs " +
			"from the call until Docker reports a new container of that name running (inspect polled " +
			"every 5 ms). Its floor is a client that force-removes a container and then creates and " +
			"starts a replacement itself, knowing at once. SIGKILL is sent from the host to the main " +
			"process (PID from inspect) of a task under restartPolicy Always; the clock runs until " +
			"inspect shows the container running with a later StartedAt. Its floor is the same kill " +
			"of a container run with `docker run --restart=always`. The four kinds are interleaved " +
			"in rotating order.",
		reading: func(rows []row) string {
			return verdictLine(rows) + " After `rm -f` cubelet learns of the destroy from the event " +
				"stream within milliseconds and its create+start is the same two Engine API calls the " +
				"floor makes, so the difference is the event delivery and one reconcile. After SIGKILL " +
				"cubelet reacts to the `die` event and starts the container again at once (the run was " +
				"steady), while Docker's restart manager waits its minimum 100 ms before restarting: " +
				"cubelet is typically faster than Docker's own restart policy here, which is why the " +
				"difference can be negative."
		},
	},
	{
		section: "Start-up",
		method: "While N tasks run, cubelet is stopped (SIGTERM; containers keep running), stopped " +
			"tasks (desiredState Completed) are written into its store up to the stated total, and " +
			"the binary is started three times; each time the clock runs from exec to the first " +
			"200 of /readyz (polled every 2 ms), which needs the task and container caches synced " +
			"and Docker answering a ping. The baseline is the same start with only the N running " +
			"tasks stored. Afterwards the store is restored.",
		reading: func(rows []row) string {
			return verdictLine(rows) + " Ready costs one read of the whole store (decoding every " +
				"task's JSON) and one list of the managed containers with an inspect of each (8 at a " +
				"time); the difference to the baseline is the price of the stored tasks."
		},
	},
	{
		section: "In process",
		method: "The real controller (informers, rate-limited workqueue, as many workers as serve's default, logs discarded) over " +
			"the real bbolt store in a temporary directory and the in-memory fake engine with zero " +
			"latency. The tasks are written first (Pending, as the API writes them); the clock runs " +
			"from Run until the store has acknowledged a Running status with a container for every " +
			"task. Each run has a fresh store and controller; the figure is the median of the runs at " +
			"the stated count, with each run listed, and one more run at the larger count shows how " +
			"time and memory per task grow. CPU time is the process's user and system time over the " +
			"converge (getrusage), steadier than the wall clock when the disk is shared. Reconciles " +
			"are counted through the workqueue's metrics provider; allocations are " +
			"the whole process's mallocs over the converge divided by reconciles. Resident memory is " +
			"the growth of the live heap after a forced GC from before the controller was made to " +
			"after the queue went idle (in-use spans, HeapInuse), less the fake engine's own records " +
			"of the containers, which stand in for Docker's, another process in production (weighed " +
			"by their bytes; the detail also gives them weighed by the spans their removal empties, " +
			"as earlier rounds did, and cubelet's live objects alone), divided by the task count. The profiles below come from one more " +
			"run, not among the timed ones.",
		reading: func(rows []row) string {
			return verdictLine(rows) + " Where the time goes (see Profiles): the converge is one durable " +
				"status write per task (Running; the transient ContainerCreating write after a create " +
				"is skipped, since the container's generation label, not the status, says the run " +
				"began: the kill -9 job-once tests are green with it). The workers do not wait for it: a " +
				"sync hands its status write to a background writer (controller/status_writer.go, " +
				"kubelet's status manager) and takes the next task, and the task's next sync waits " +
				"until the write is committed and the informer shows it. Up to 128 writes are in " +
				"flight, and the store's single writer commits everything waiting in one bbolt " +
				"transaction — one write of the pages and two fdatasyncs for the whole group, each " +
				"caller answered only after it. When the workers wrote themselves, a group held at " +
				"most one write per worker and the converge waited on the disk (A/B on this machine " +
				"in one session: 0.80–1.13 s with the workers writing, 0.57–0.70 s handing over); now " +
				"the figure is set by CPU, the process using 1.6 to 1.8 CPU-seconds per second of the " +
				"converge on two cores, and more workers do not make it faster (the row with more " +
				"workers is one run; two cores are all there is to share). The " +
				"caches of 10,000 tasks fill in about 90 ms (the cold list decodes every task); the " +
				"controller sees that within 2 ms, where client-go's WaitForCacheSync looks every " +
				"100 ms and cost each run 100 or 200 ms. CPU (see Profiles): garbage collection about " +
				"a third, the controller's sync about a quarter, the " +
				"store's writer about 15% (mostly bbolt's commit). Changed in earlier rounds (issue 14): a " +
				"status write no longer decodes the stored task on the writer: the caller encodes the " +
				"task with its new status, and the writer checks that the stored record begins with " +
				"exactly those bytes (which also proves the resourceVersion and uid preconditions) and " +
				"splices in the revision and status (BenchmarkStatusSplice: 1.2 µs and 1 allocation " +
				"per write, was 56 µs and 92); condition and transition times no longer allocate; " +
				"expectations are dropped once met; the event buffer between Docker's stream and the " +
				"informer is 8,192 events (at 1,024 a burst overflowed it under load and cost a relist " +
				"and a requeue of every task). Memory: the informer caches hold one decoded copy of " +
				"each task and of each container (the container's labels cut to cubelet's own " +
				"io.cubelet.* ones: Docker merges the image's labels in); the store's watch window " +
				"keeps the last 10,000 events but no bytes for an event that is still its task's " +
				"newest write (a replay reads that one from the store; an overwritten record hands its " +
				"old bytes to the window), so the window costs little per task, and the rest of the " +
				"difference between resident and live memory is heap spans left half empty by the " +
				"collector. With 512 status writes in flight, commits of several hundred events " +
				"overran the store's per-watcher buffer (1,000 events): the informer's watch was " +
				"dropped and re-established from the window, and the replayed tasks, decoded from " +
				"JSON, took about 0.5 KiB more each in the cache; hence 128."
		},
	},
	{
		section: "API",
		method: "The real router (handlers.NewRouter) over the real store, served on a loopback " +
			"listener in the bench process; 64 client goroutines PUT distinct task names, so every " +
			"request is a durable create (one read and one fsynced write). The floor is bbolt's own " +
			"db.Batch (default 10 ms / 1000 batching) putting the same number of keys with a stored " +
			"task's bytes from 64 goroutines on the same disk, run before and after the PUTs and " +
			"averaged; the HTTP baseline is the same clients against a handler that reads the body " +
			"and answers 201 with a task-sized body. The list is read whole 20 times in sequence at " +
			"the stated task count, streamed (see below).",
		reading: func(rows []row) string {
			return verdictLine(rows) + " The store's single writer commits whatever is waiting the " +
				"moment it is free, without db.Batch's fixed 10 ms wait, so it beats the bare db.Batch " +
				"floor by a wide margin: the floor is a floor for bbolt used the obvious way, not for " +
				"the disk. Clients and server share the machine's two cores; the empty handler shows " +
				"what HTTP alone costs at this concurrency. The list streams: the store reads 256 tasks " +
				"per read transaction and the handler encodes each as it comes, so the server holds one " +
				"chunk and a write buffer, never the whole list, and no read transaction waits on a slow " +
				"client; `?limit=&continue=` pages it as Kubernetes does. It still decodes every task " +
				"from the store and encodes it again, several megabytes at 10,000 tasks: fine for an " +
				"occasional list, which is why clients should watch rather than poll it."
		},
	},
}
