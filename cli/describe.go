package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

func newDescribeCommand() *cobra.Command {
	var conn connection
	cmd := &cobra.Command{
		Use:     "describe NAME",
		Short:   "Show a task's spec, status, conditions and recent transitions",
		Example: `  cubelet describe web`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.client()
			if err != nil {
				return err
			}
			t, err := c.Get(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("describe task/%s: %w", args[0], err)
			}
			return describe(cmd.OutOrStdout(), t, time.Now())
		},
	}
	conn.addFlags(cmd.Flags())
	cmd.ValidArgsFunction = completeTaskNames(&conn)
	return cmd
}

// describe writes t in kubectl describe's layout: "Key:<tab>value" lines,
// indented by section, aligned by one tabwriter over the whole output.
func describe(out io.Writer, t *v1.Task, now time.Time) error {
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	d := &describer{w: tw}
	s, st := &t.Spec, &t.Status

	d.line(0, "Name", t.Name)
	d.line(0, "Labels", keyValues(t.Labels))
	d.line(0, "Annotations", keyValues(t.Annotations))
	d.line(0, "UID", orNone(string(t.UID)))
	d.line(0, "Resource Version", orNone(t.ResourceVersion))
	d.line(0, "Generation", fmt.Sprintf("%d (observed %d)", t.Generation, st.ObservedGeneration))
	d.line(0, "Created", when(&t.CreationTimestamp, now))
	if t.DeletionTimestamp != nil {
		d.line(0, "Deleting Since", when(t.DeletionTimestamp, now))
		d.line(0, "Finalizers", orNone(strings.Join(t.Finalizers, ", ")))
	}

	d.section(0, "Spec")
	d.line(1, "Image", s.Image)
	d.line(1, "Image Pull Policy", orNone(string(s.ImagePullPolicy)))
	d.line(1, "Command", words(s.Command))
	d.line(1, "Args", words(s.Args))
	if s.WorkingDir != "" {
		d.line(1, "Working Dir", s.WorkingDir)
	}
	d.line(1, "Ports", specPorts(s.Ports))
	d.line(1, "CPU", quantity(s.Resources.CPU))
	d.line(1, "Memory", quantity(s.Resources.Memory))
	d.line(1, "Restart Policy", orNone(string(s.RestartPolicy)))
	if s.StopGracePeriodSeconds != nil {
		d.line(1, "Stop Grace Period", (time.Duration(*s.StopGracePeriodSeconds) * time.Second).String())
	}
	d.line(1, "Desired State", orNone(string(s.DesiredState)))
	if s.RestartGeneration != 0 {
		d.line(1, "Restart Generation", fmt.Sprint(s.RestartGeneration))
	}
	if len(s.Env) == 0 {
		d.line(1, "Environment", none)
	} else {
		d.section(1, "Environment")
		for _, e := range s.Env {
			d.line(2, e.Name, e.Value)
		}
	}

	d.section(0, "Status")
	d.line(1, "State", displayState(t))
	d.line(1, "Reason", orNone(st.Reason))
	d.line(1, "Message", orNone(st.Message))
	d.line(1, "Container", containerLine(st))
	if st.ExitCode != nil {
		d.line(1, "Exit Code", fmt.Sprint(*st.ExitCode))
	}
	d.line(1, "Restarts", fmt.Sprint(st.RestartCount))
	d.line(1, "Started", when(st.StartTime, now))
	d.line(1, "Finished", when(st.FinishTime, now))
	if st.NextRetryTime != nil {
		d.line(1, "Next Retry", when(st.NextRetryTime, now))
	}
	d.line(1, "Host Ports", portsOf(&v1.Task{Status: v1.TaskStatus{HostPorts: st.HostPorts}}))

	if len(st.Conditions) == 0 {
		d.line(0, "Conditions", none)
	} else {
		d.section(0, "Conditions")
		d.row(1, "Type", "Status", "Reason", "Age", "Message")
		d.row(1, "----", "------", "------", "---", "-------")
		for _, c := range st.Conditions {
			d.row(1, c.Type, string(c.Status), orNone(c.Reason), ago(c.LastTransitionTime, now), c.Message)
		}
	}
	if len(st.Transitions) == 0 {
		d.line(0, "Transitions", none)
	} else {
		d.section(0, "Transitions")
		d.row(1, "From", "To", "Reason", "Age")
		d.row(1, "----", "--", "------", "---")
		for _, tr := range st.Transitions {
			d.row(1, orNone(string(tr.From)), string(tr.To), orNone(tr.Reason), ago(tr.Time, now))
		}
	}
	if d.err != nil {
		return fmt.Errorf("write description: %w", d.err)
	}
	return tw.Flush()
}

// describer writes indented describe lines, remembering the first error.
type describer struct {
	w   io.Writer
	err error
}

func (d *describer) printf(level int, format string, args ...any) {
	if d.err != nil {
		return
	}
	_, d.err = fmt.Fprintf(d.w, strings.Repeat("  ", level)+format, args...)
}

func (d *describer) line(level int, key, value string) { d.printf(level, "%s:\t%s\n", key, value) }
func (d *describer) section(level int, key string)     { d.printf(level, "%s:\n", key) }
func (d *describer) row(level int, cells ...string) {
	d.printf(level, "%s\n", strings.Join(cells, "\t"))
}

// keyValues renders labels or annotations sorted, one "k=v" after another.
func keyValues(m map[string]string) string {
	if len(m) == 0 {
		return none
	}
	kv := make([]string, 0, len(m))
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ", ")
}

func words(ws []string) string {
	if len(ws) == 0 {
		return none
	}
	return strings.Join(ws, " ")
}

func specPorts(ports []v1.PortMapping) string {
	if len(ports) == 0 {
		return none
	}
	ps := make([]string, 0, len(ports))
	for _, p := range ports {
		host := "any free port"
		if p.HostPort != 0 {
			host = fmt.Sprintf("%s:%d", orAny(p.HostIP), p.HostPort)
		}
		ps = append(ps, fmt.Sprintf("%d/%s -> %s", p.ContainerPort, orTCP(p.Protocol), host))
	}
	return strings.Join(ps, ", ")
}

func quantity(q *resource.Quantity) string {
	if q == nil {
		return none
	}
	return q.String()
}

func containerLine(st *v1.TaskStatus) string {
	switch {
	case st.ContainerID == "":
		return none
	case st.ContainerName == "":
		return shortID(st.ContainerID)
	default:
		return fmt.Sprintf("%s (%s)", st.ContainerName, shortID(st.ContainerID))
	}
}

// when renders a timestamp with its age: "2026-01-02T15:04:05Z (5m ago)".
func when(t *metav1.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return none
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), duration.HumanDuration(now.Sub(t.Time)))
}

func ago(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return none
	}
	return duration.HumanDuration(now.Sub(t.Time))
}
