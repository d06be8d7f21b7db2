package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

const none = "<none>"

// columns returns the table header for get; wide adds the container view
// and, as kubectl's pods, the node the task is bound to (<none> on a
// single host or while unbound).
func columns(wide bool) []string {
	cols := []string{"NAME", "STATE", "READY", "RESTARTS", "AGE"}
	if wide {
		cols = append(cols, "IMAGE", "CONTAINER", "PORTS", "REASON", "NODE")
	}
	return cols
}

// row renders t as one table row at time now.
func row(t *v1.Task, wide bool, now time.Time) []string {
	r := []string{t.Name, displayState(t), readyOf(t), strconv.Itoa(int(t.Status.RestartCount)), age(t, now)}
	if wide {
		r = append(r, t.Spec.Image, containerOf(t), portsOf(t), orNone(t.Status.Reason), orNone(t.Spec.NodeName))
	}
	return r
}

// displayState is status.state, except that a task being deleted shows
// Terminating, as kubectl shows pods.
func displayState(t *v1.Task) string {
	switch {
	case t.DeletionTimestamp != nil:
		return "Terminating"
	case t.Status.State == "":
		return "<unknown>"
	default:
		return string(t.Status.State)
	}
}

// readyOf shows the Ready condition as kubectl shows a pod's ready
// containers: 1/1 when the container runs and its readiness probe (if any)
// passes, 0/1 otherwise.
func readyOf(t *v1.Task) string {
	for _, c := range t.Status.Conditions {
		if c.Type == "Ready" && c.Status == metav1.ConditionTrue {
			return "1/1"
		}
	}
	return "0/1"
}

func age(t *v1.Task, now time.Time) string {
	if t.CreationTimestamp.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.CreationTimestamp.Time))
}

// containerOf names the task's container: its Docker name, else a short ID.
func containerOf(t *v1.Task) string {
	switch {
	case t.Status.ContainerName != "":
		return t.Status.ContainerName
	case t.Status.ContainerID != "":
		return shortID(t.Status.ContainerID)
	default:
		return none
	}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// portsOf shows the published ports as docker ps does
// ("0.0.0.0:32768->8080/TCP"), or the requested ones before publication.
func portsOf(t *v1.Task) string {
	var ps []string
	if len(t.Status.HostPorts) > 0 {
		for _, p := range t.Status.HostPorts {
			ps = append(ps, fmt.Sprintf("%s:%d->%d/%s", orAny(p.HostIP), p.HostPort, p.ContainerPort, p.Protocol))
		}
	} else {
		for _, p := range t.Spec.Ports {
			ps = append(ps, fmt.Sprintf("%d/%s", p.ContainerPort, orTCP(p.Protocol)))
		}
	}
	if len(ps) == 0 {
		return none
	}
	return strings.Join(ps, ",")
}

func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

func orAny(ip string) string {
	if ip == "" {
		return "0.0.0.0"
	}
	return ip
}

func orTCP(p v1.Protocol) v1.Protocol {
	if p == "" {
		return v1.ProtocolTCP
	}
	return p
}

// tablePrinter writes rows aligned in columns, kubectl style: three spaces
// between columns, each as wide as its widest cell so far. It is not
// text/tabwriter because a watch prints rows one at a time, long after the
// header: tabwriter aligns only what it holds between flushes, so each
// later row would be aligned with nothing. Here the widths carry over, and
// a later row only widens columns from then on.
type tablePrinter struct {
	w      io.Writer
	widths []int
}

const columnGap = 3

// newTablePrinter returns the printer of get's table. STATE starts as wide
// as its widest value, so the rows of a watch do not shift as a task goes
// from Pending to Terminating.
func newTablePrinter(w io.Writer) *tablePrinter {
	return &tablePrinter{w: w, widths: []int{0, len("Terminating")}}
}

// print writes rows (the first may be the header), widening columns to
// fit them all first.
func (p *tablePrinter) print(rows ...[]string) error {
	for _, r := range rows {
		for i, cell := range r {
			if i >= len(p.widths) {
				p.widths = append(p.widths, 0)
			}
			p.widths[i] = max(p.widths[i], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, cell := range r {
			b.WriteString(cell)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", p.widths[i]-utf8.RuneCountInString(cell)+columnGap))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(p.w, b.String())
	return err
}
