package scheduler

import (
	"sort"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// nodeLoad is what is already bound to one node.
type nodeLoad struct {
	node  *v1.Node
	tasks int
	cpu   int64 // millicores requested
	mem   int64 // bytes requested
	ports map[hostPortKey]bool
}

type hostPortKey struct {
	ip       string
	port     int32
	protocol v1.Protocol
}

// occupies tells whether a task bound to a node counts against it: a task
// the user stopped (desiredState Completed) holds no container.
func occupies(t *v1.Task) bool {
	return t.Spec.NodeName != "" && t.DeletionTimestamp == nil && t.Spec.DesiredState != v1.Completed
}

// newLoads sums, for every node, the requests of the tasks bound to it.
// A task's resources (its limits) are its requests, as in Kubernetes
// when only limits are given.
func newLoads(nodes []v1.Node, tasks []*v1.Task) map[string]*nodeLoad {
	loads := make(map[string]*nodeLoad, len(nodes))
	for i := range nodes {
		loads[nodes[i].Name] = &nodeLoad{node: &nodes[i], ports: map[hostPortKey]bool{}}
	}
	for _, t := range tasks {
		if occupies(t) {
			if l := loads[t.Spec.NodeName]; l != nil {
				l.add(t)
			}
		}
	}
	return loads
}

func (l *nodeLoad) add(t *v1.Task) {
	l.tasks++
	if q := t.Spec.Resources.CPU; q != nil {
		l.cpu += q.MilliValue()
	}
	if q := t.Spec.Resources.Memory; q != nil {
		l.mem += q.Value()
	}
	for _, p := range t.Spec.Ports {
		if p.HostPort != 0 {
			l.ports[hostPortKey{p.HostIP, p.HostPort, protocolOf(p)}] = true
		}
	}
}

func protocolOf(p v1.PortMapping) v1.Protocol {
	if p.Protocol == "" {
		return v1.ProtocolTCP
	}
	return p.Protocol
}

// portsConflict: a host port is taken when the same port and protocol are
// bound on the same address, or when either side binds every address.
func (l *nodeLoad) portsConflict(t *v1.Task) bool {
	for _, p := range t.Spec.Ports {
		if p.HostPort == 0 {
			continue
		}
		for k := range l.ports {
			if k.port == p.HostPort && k.protocol == protocolOf(p) && (k.ip == p.HostIP || k.ip == "" || p.HostIP == "") {
				return true
			}
		}
	}
	return false
}

func capacityOf(n *v1.Node, name string, milli bool) (int64, bool) {
	q, ok := n.Status.Capacity[name]
	if !ok {
		return 0, false
	}
	if milli {
		return q.MilliValue(), true
	}
	return q.Value(), true
}

func request(q *resource.Quantity, milli bool) int64 {
	if q == nil {
		return 0
	}
	if milli {
		return q.MilliValue()
	}
	return q.Value()
}

// fits tells why t cannot go to l's node, or "" when it can.
func (l *nodeLoad) fits(t *v1.Task) string {
	n := l.node
	switch {
	case !v1.NodeIsReady(n):
		return "NotReady"
	case n.Spec.Unschedulable:
		return "Unschedulable"
	case !labels.SelectorFromSet(t.Spec.NodeSelector).Matches(labels.Set(n.Labels)):
		return "NodeSelectorMismatch"
	case l.portsConflict(t):
		return "HostPortConflict"
	}
	if c, ok := capacityOf(n, "cpu", true); ok && l.cpu+request(t.Spec.Resources.CPU, true) > c {
		return "InsufficientCPU"
	}
	if c, ok := capacityOf(n, "memory", false); ok && l.mem+request(t.Spec.Resources.Memory, false) > c {
		return "InsufficientMemory"
	}
	return ""
}

// score is Kubernetes' least-requested: the mean free fraction of CPU and
// memory after placing t, in 0..1000. Higher is better.
func (l *nodeLoad) score(t *v1.Task) int64 {
	free := func(used, capacity int64, ok bool) int64 {
		if !ok || capacity <= 0 {
			return 1000
		}
		if used >= capacity {
			return 0
		}
		return (capacity - used) * 1000 / capacity
	}
	c, okc := capacityOf(l.node, "cpu", true)
	m, okm := capacityOf(l.node, "memory", false)
	return (free(l.cpu+request(t.Spec.Resources.CPU, true), c, okc) + free(l.mem+request(t.Spec.Resources.Memory, false), m, okm)) / 2
}

// pick chooses t's node among loads: the feasible node with the best
// least-requested score; ties go to the node with fewer tasks, then to
// the first name, so tasks without requests spread evenly. It returns ""
// and the reasons when no node fits.
func pick(t *v1.Task, loads map[string]*nodeLoad) (string, map[string]int) {
	names := make([]string, 0, len(loads))
	for name := range loads {
		names = append(names, name)
	}
	sort.Strings(names)
	best, bestScore := "", int64(-1)
	reasons := map[string]int{}
	for _, name := range names {
		l := loads[name]
		if why := l.fits(t); why != "" {
			reasons[why]++
			continue
		}
		s := l.score(t)
		if s > bestScore || (s == bestScore && l.tasks < loads[best].tasks) {
			best, bestScore = name, s
		}
	}
	return best, reasons
}
