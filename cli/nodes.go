package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/duration"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// resourceNodes is the word that makes `cubelet get` list nodes instead
// of tasks, as `kubectl get nodes`. A task named "nodes" is still shown
// by `cubelet describe nodes` or `cubelet get -o yaml` of the list.
const resourceNodes = "nodes"

// ListNodes returns the cluster's nodes (404 on a single host).
func (c *Client) ListNodes(ctx context.Context) (*v1.NodeList, error) {
	var l v1.NodeList
	if _, err := c.call(ctx, http.MethodGet, "/v1/nodes", nil, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// GetNode returns one node.
func (c *Client) GetNode(ctx context.Context, name string) (*v1.Node, error) {
	var n v1.Node
	if _, err := c.call(ctx, http.MethodGet, "/v1/nodes/"+url.PathEscape(name), nil, nil, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// printNodes answers `cubelet get nodes [NAME]`: NAME STATUS TASKS CPU
// MEMORY AGE, where TASKS counts the tasks bound to the node that should
// run and CPU/MEMORY are their requests over the node's capacity.
func (o *getOptions) printNodes(ctx context.Context, c *Client, out, errOut io.Writer, name string) error {
	var nodes []v1.Node
	if name != "" {
		n, err := c.GetNode(ctx, name)
		if err != nil {
			return fmt.Errorf("get node/%s: %w", name, err)
		}
		nodes = []v1.Node{*n}
	} else {
		l, err := c.ListNodes(ctx)
		if err != nil {
			return fmt.Errorf("list nodes: %w", err)
		}
		nodes = l.Items
	}
	switch o.output {
	case outputJSON, outputYAML:
		if name != "" {
			return printObject(out, o.output, &nodes[0], false)
		}
		return printObject(out, o.output, &v1.NodeList{Items: nodes}, false)
	}
	if len(nodes) == 0 {
		_, err := fmt.Fprintln(errOut, "No nodes found.")
		return err
	}
	tasks, err := c.List(ctx, "")
	if err != nil {
		return fmt.Errorf("list tasks: %w", err)
	}
	return writeNodeTable(out, nodes, tasks.Items, o.now())
}

type nodeUse struct {
	tasks    int
	cpu, mem resource.Quantity
}

func writeNodeTable(out io.Writer, nodes []v1.Node, tasks []v1.Task, now time.Time) error {
	use := map[string]*nodeUse{}
	for i := range tasks {
		t := &tasks[i]
		if t.Spec.NodeName == "" || t.DeletionTimestamp != nil || t.Spec.DesiredState == v1.Completed {
			continue
		}
		u := use[t.Spec.NodeName]
		if u == nil {
			u = &nodeUse{}
			use[t.Spec.NodeName] = u
		}
		u.tasks++
		if q := t.Spec.Resources.CPU; q != nil {
			u.cpu.Add(*q)
		}
		if q := t.Spec.Resources.Memory; q != nil {
			u.mem.Add(*q)
		}
	}
	rows := [][]string{{"NAME", "STATUS", "TASKS", "CPU", "MEMORY", "AGE"}}
	for i := range nodes {
		n := &nodes[i]
		u := use[n.Name]
		if u == nil {
			u = &nodeUse{}
		}
		status := "NotReady"
		if v1.NodeIsReady(n) {
			status = "Ready"
		}
		if n.Spec.Unschedulable {
			status += ",SchedulingDisabled"
		}
		nodeAge := "<unknown>"
		if !n.CreationTimestamp.IsZero() {
			nodeAge = duration.HumanDuration(now.Sub(n.CreationTimestamp.Time))
		}
		rows = append(rows, []string{n.Name, status, strconv.Itoa(u.tasks),
			usedOf(u.cpu, n.Status.Capacity["cpu"]), usedOf(u.mem, n.Status.Capacity["memory"]), nodeAge})
	}
	p := newTablePrinter(out)
	p.widths = nil // no state column here
	return p.print(rows...)
}

// usedOf renders requested/capacity ("500m/4", "64Mi/7856Mi").
func usedOf(used, capacity resource.Quantity) string {
	c := none
	if !capacity.IsZero() {
		c = capacity.String()
	}
	return used.String() + "/" + c
}

func (o *getOptions) runNodes(cmd *cobra.Command, args []string) error {
	if o.watch || o.selector != "" || o.output == outputWide || o.output == outputName {
		return fmt.Errorf("get nodes takes only -o json or -o yaml")
	}
	c, err := o.conn.client()
	if err != nil {
		return err
	}
	ctx, stop := interruptible(cmd)
	defer stop()
	name := ""
	if len(args) == 1 {
		name = args[0]
	}
	return o.printNodes(ctx, c, cmd.OutOrStdout(), cmd.ErrOrStderr(), name)
}
