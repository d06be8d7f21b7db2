package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// DrainNode cordons the node and moves its tasks (POST
// /v1/nodes/{name}/drain); the answer says which tasks went where and
// which stayed.
func (c *Client) DrainNode(ctx context.Context, name string) (*v1.NodeDrain, error) {
	var d v1.NodeDrain
	if err := c.nodeAction(ctx, name, "drain", &d); err != nil {
		return nil, err
	}
	return &d, nil
}

func newDrainCommand() *cobra.Command {
	var conn connection
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "drain NODE",
		Short: "Cordon a node and move its tasks to other nodes",
		Long: `Drain cordons the node, then binds each of its Always and OnFailure tasks
to another node, chosen as the scheduler chooses: the drained node removes
its container when it sees the new binding, and the new node starts the
task's new run. Drain waits until every moved task runs on its new node
(or its run there has ended), printing one line per task.

A restartPolicy Never task still running is not moved (it could run
twice): it finishes where it runs. Nor is a task posted by a Cube manager,
nor one no other node fits. Drain lists those, leaves the node cordoned
and exits 1; run it again once they have ended. See docs/cluster.md.`,
		Example: `  cubelet drain node-2
  cubelet drain node-2 --timeout 5m
  cubelet uncordon node-2    # when it may take tasks again`,
		Args: cobra.ExactArgs(1),
		RunE: runWithClient(&conn, func(ctx context.Context, cmd *cobra.Command, c *Client, args []string) error {
			name := args[0]
			if err := drainNode(ctx, c, cmd.OutOrStdout(), cmd.ErrOrStderr(), name, timeout); err != nil {
				return fmt.Errorf("drain node/%s: %w", name, err)
			}
			return nil
		}),
	}
	conn.addFlags(cmd.Flags())
	cmd.ValidArgsFunction = completeNodeNames(&conn)
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "how long to wait for the moved tasks to run on their new nodes (0: no limit)")
	return cmd
}

// drainNode prints, as kubectl drain does, "node/X cordoned", then a line
// per task as it runs on its new node, then "node/X drained"; the tasks
// left on the node go to errOut and make it an error.
func drainNode(ctx context.Context, c *Client, out, errOut io.Writer, name string, timeout time.Duration) error {
	before, err := c.GetNode(ctx, name)
	if err != nil {
		return err
	}
	d, err := c.DrainNode(ctx, name)
	if err != nil {
		return err
	}
	cordoned := "cordoned"
	if before.Spec.Unschedulable {
		cordoned = "already cordoned"
	}
	if _, err := fmt.Fprintf(out, "node/%s %s\n", name, cordoned); err != nil {
		return err
	}
	for _, l := range d.Left {
		if _, err := fmt.Fprintf(errOut, "task/%s stays on node/%s (%s): %s\n", l.Name, name, l.Reason, l.Message); err != nil {
			return err
		}
	}
	if err := waitMoved(ctx, c, out, name, d.Moved, timeout); err != nil {
		return err
	}
	if n := len(d.Left); n > 0 {
		return fmt.Errorf("%d %s left on the node, which stays cordoned: drain again once %s ended, or uncordon it",
			n, plural(n, "task", "tasks"), plural(n, "it has", "they have"))
	}
	_, err = fmt.Fprintf(out, "node/%s drained\n", name)
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// runsElsewhere tells whether moved task t has started its new run off
// the drained node: the node it is bound to (the drain's, or a later
// binding's) has observed a generation at least the drain's and reports
// it Running, or already ended (a short OnFailure job).
func runsElsewhere(t *v1.Task, drained string, m v1.DrainedTask) bool {
	return t.Spec.NodeName != "" && t.Spec.NodeName != drained && t.Generation >= m.Generation &&
		t.Status.ObservedGeneration == t.Generation && (t.Status.State == v1.Running || t.Status.State == v1.Completed)
}

// waitMoved lists, then watches from the list's resourceVersion, until
// every moved task runs elsewhere (one line each, as it does) or is
// deleted, or the timeout. A watch that expires leads to a new list.
func waitMoved(ctx context.Context, c *Client, out io.Writer, drained string, moved []v1.DrainedTask, timeout time.Duration) error {
	if len(moved) == 0 {
		return nil
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	pending := make(map[string]v1.DrainedTask, len(moved))
	last := map[string]*v1.Task{}
	for _, m := range moved {
		pending[m.Name] = m
	}
	var werr error
	see := func(t *v1.Task, deleted bool) {
		m, ok := pending[t.Name]
		if !ok {
			return
		}
		last[t.Name] = t
		switch {
		case deleted:
			_, werr = fmt.Fprintf(out, "task/%s deleted\n", t.Name)
		case runsElsewhere(t, drained, m):
			_, werr = fmt.Fprintf(out, "task/%s moved to %s\n", t.Name, t.Spec.NodeName)
		default:
			return
		}
		delete(pending, t.Name)
	}
	for len(pending) > 0 && werr == nil {
		list, err := c.List(ctx, "")
		if err != nil {
			return waitMovedError(ctx, timeout, pending, last, err)
		}
		listed := map[string]bool{}
		for i := range list.Items {
			listed[list.Items[i].Name] = true
			see(&list.Items[i], false)
		}
		for _, name := range sortedNames(pending) {
			if !listed[name] {
				delete(pending, name)
				_, werr = fmt.Fprintf(out, "task/%s deleted\n", name)
			}
		}
		if len(pending) == 0 || werr != nil {
			break
		}
		err = followTasks(ctx, c, "", list.ResourceVersion, func(ev Event) (bool, error) {
			if ev.Task != nil && ev.Type != watch.Bookmark {
				see(ev.Task, ev.Type == watch.Deleted)
			}
			return len(pending) == 0 || werr != nil, werr
		})
		if err != nil && !isExpired(err) {
			return waitMovedError(ctx, timeout, pending, last, err)
		}
	}
	return werr
}

// waitMovedError names the tasks not yet running elsewhere, with their
// state as last seen.
func waitMovedError(ctx context.Context, timeout time.Duration, pending map[string]v1.DrainedTask, last map[string]*v1.Task, err error) error {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	var parts []string
	for _, name := range sortedNames(pending) {
		where, state := pending[name].NodeName, "not seen"
		if t := last[name]; t != nil {
			where, state = t.Spec.NodeName, string(t.Status.State)
			if t.Status.ObservedGeneration != t.Generation {
				state = "not started by its node yet"
			}
		}
		parts = append(parts, fmt.Sprintf("task/%s on %s (%s)", name, where, state))
	}
	return fmt.Errorf("not running on their new nodes after --timeout %s: %s", timeout, strings.Join(parts, ", "))
}

func sortedNames(m map[string]v1.DrainedTask) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
