package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// getOptions are the flags of get.
type getOptions struct {
	conn     connection
	output   string
	watch    bool
	selector string
	now      func() time.Time
}

func newGetCommand() *cobra.Command {
	o := &getOptions{now: time.Now}
	cmd := &cobra.Command{
		Use:   "get [NAME]",
		Short: "List tasks, or show one",
		Long: `Get prints tasks as a table (NAME STATE RESTARTS AGE; -o wide adds IMAGE
CONTAINER PORTS REASON NODE), or as JSON or YAML. With -w it then watches and
prints a row for every change as it happens, until interrupted.
"get nodes [NAME]" lists a cluster's nodes instead (NAME STATUS TASKS CPU
MEMORY AGE; CPU and MEMORY are the bound tasks' requests over capacity).`,
		Example: `  cubelet get
  cubelet get web -o yaml
  cubelet get -l app=web -o wide
  cubelet get -w
  cubelet get nodes`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(o.output); err != nil {
				return err
			}
			if len(args) > 0 && args[0] == resourceNodes {
				return o.runNodes(cmd, args[1:])
			}
			if len(args) > 1 {
				return fmt.Errorf("get takes one task name, or `nodes [NAME]`; got %q", args)
			}
			var name string
			if len(args) == 1 {
				name = args[0]
				if o.selector != "" {
					return errors.New("a task name and --selector cannot be combined")
				}
			}
			c, err := o.conn.client()
			if err != nil {
				return err
			}
			ctx, stop := interruptible(cmd)
			defer stop()
			if o.watch {
				err := o.runWatch(ctx, c, cmd.OutOrStdout(), name)
				if ctx.Err() != nil && errors.Is(err, context.Canceled) {
					return nil // interrupted: the normal end of a watch
				}
				return err
			}
			if name != "" {
				return o.printOne(ctx, c, cmd.OutOrStdout(), name)
			}
			return o.printList(ctx, c, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	conn := &o.conn
	conn.addFlags(cmd.Flags())
	cmd.ValidArgsFunction = completeTaskNames(conn)
	fs := cmd.Flags()
	fs.StringVarP(&o.output, "output", "o", "", "output format: wide, json, yaml or name")
	fs.BoolVarP(&o.watch, "watch", "w", false, "after listing, watch for changes and print them")
	fs.StringVarP(&o.selector, "selector", "l", "", "label selector, e.g. app=web,tier!=db")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(
		[]cobra.Completion{outputWide, outputJSON, outputYAML, outputName}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (o *getOptions) printOne(ctx context.Context, c *Client, out io.Writer, name string) error {
	t, err := c.Get(ctx, name)
	if err != nil {
		return fmt.Errorf("get task/%s: %w", name, err)
	}
	switch o.output {
	case outputJSON, outputYAML:
		return printObject(out, o.output, withTypeMeta(t), false)
	default:
		p := newTablePrinter(out)
		return o.printTasks(p, []v1.Task{*t}, true)
	}
}

func (o *getOptions) printList(ctx context.Context, c *Client, out, errOut io.Writer) error {
	l, err := c.List(ctx, o.selector)
	if err != nil {
		return fmt.Errorf("list tasks: %w", err)
	}
	switch o.output {
	case outputJSON, outputYAML:
		return printObject(out, o.output, listWithTypeMeta(l), false)
	}
	if len(l.Items) == 0 {
		_, err := fmt.Fprintln(errOut, "No tasks found.")
		return err
	}
	return o.printTasks(newTablePrinter(out), l.Items, true)
}

// printTasks writes tasks in the table or name format, with the header
// when asked.
func (o *getOptions) printTasks(p *tablePrinter, tasks []v1.Task, header bool) error {
	if o.output == outputName {
		for _, t := range tasks {
			if _, err := fmt.Fprintf(p.w, "task/%s\n", t.Name); err != nil {
				return err
			}
		}
		return nil
	}
	wide := o.output == outputWide
	rows := make([][]string, 0, len(tasks)+1)
	if header {
		rows = append(rows, columns(wide))
	}
	now := o.now()
	for i := range tasks {
		rows = append(rows, row(&tasks[i], wide, now))
	}
	return p.print(rows...)
}

// runWatch lists, prints, then prints every change from the list's
// resourceVersion on, like kubectl get -w. When the server's history no
// longer reaches back to the last revision seen, it lists again and
// carries on.
func (o *getOptions) runWatch(ctx context.Context, c *Client, out io.Writer, name string) error {
	p := newTablePrinter(out)
	header := o.output == outputTable || o.output == outputWide
	for {
		l, err := c.List(ctx, o.selector)
		if err != nil {
			return fmt.Errorf("list tasks: %w", err)
		}
		if err := o.printEvents(p, filterName(l.Items, name), header); err != nil {
			return err
		}
		header = false
		err = followTasks(ctx, c, o.selector, l.ResourceVersion, func(ev Event) (bool, error) {
			if name != "" && ev.Task.Name != name {
				return false, nil
			}
			return false, o.printEvents(p, []v1.Task{*ev.Task}, false)
		})
		if isExpired(err) {
			continue
		}
		return err
	}
}

// printEvents prints watched tasks in the chosen format.
func (o *getOptions) printEvents(p *tablePrinter, tasks []v1.Task, header bool) error {
	switch o.output {
	case outputJSON, outputYAML:
		for i := range tasks {
			if err := printObject(p.w, o.output, withTypeMeta(&tasks[i]), true); err != nil {
				return err
			}
		}
		return nil
	}
	if len(tasks) == 0 && !header {
		return nil
	}
	return o.printTasks(p, tasks, header)
}

func filterName(tasks []v1.Task, name string) []v1.Task {
	if name == "" {
		return tasks
	}
	for _, t := range tasks {
		if t.Name == name {
			return []v1.Task{t}
		}
	}
	return nil
}
