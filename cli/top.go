package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cubelet/cubelet/usage"
)

func newTopCommand() *cobra.Command {
	var (
		conn     connection
		selector string
		sortBy   string
		noHeader bool
	)
	cmd := &cobra.Command{
		Use:   "top [NAME]",
		Short: "Show the CPU and memory of running tasks",
		Long: `Top prints each running task's latest CPU and memory reading, as kubectl
top pods does: CPU in millicores, memory (working set: usage less the
inactive page cache) in MiB, and memory as a percentage of the task's
spec.resources.memory limit ("-" without a limit).

cubelet reads running containers every --stats-interval (10s by
default), so a task that just started shows "-" for CPU until its second
reading: CPU is a rate between two readings.`,
		Example: `  cubelet top
  cubelet top web
  cubelet top -l app=web --sort-by memory`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if sortBy != "" && sortBy != "cpu" && sortBy != "memory" {
				return fmt.Errorf("--sort-by %q: want cpu or memory", sortBy)
			}
			c, err := conn.client()
			if err != nil {
				return err
			}
			var items []usage.TaskUsage
			if len(args) == 1 {
				u, err := c.Usage(cmd.Context(), args[0])
				if err != nil {
					return fmt.Errorf("top task/%s: %w", args[0], err)
				}
				items = []usage.TaskUsage{*u}
			} else if items, err = topList(cmd.Context(), c, selector); err != nil {
				return fmt.Errorf("top: %w", err)
			}
			sortUsage(items, sortBy)
			if len(items) == 0 {
				_, err := fmt.Fprintln(cmd.ErrOrStderr(), "No running tasks with readings yet.")
				return err
			}
			return printTop(cmd.OutOrStdout(), items, !noHeader)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&selector, "selector", "l", "", "label selector (app=web,tier!=db)")
	fs.StringVar(&sortBy, "sort-by", "", "sort by cpu or memory, largest first (default: by name)")
	fs.BoolVar(&noHeader, "no-headers", false, "print no header row")
	conn.addFlags(fs)
	cmd.ValidArgsFunction = completeTaskNames(&conn)
	return cmd
}

// Usage returns a task's latest reading and its recent ones.
func (c *Client) Usage(ctx context.Context, name string) (*usage.TaskUsage, error) {
	var u usage.TaskUsage
	if _, err := c.call(ctx, "GET", taskPath(name)+"/usage", nil, nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// UsageList returns the latest reading of every task that has one.
func (c *Client) UsageList(ctx context.Context) (*usage.TaskUsageList, error) {
	var l usage.TaskUsageList
	if _, err := c.call(ctx, "GET", "/v1/usage", url.Values{}, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// topList reads every reading; a selector keeps those of the tasks it
// matches, which the server's list evaluates (the same selector rules as
// `cubelet get -l`).
func topList(ctx context.Context, c *Client, selector string) ([]usage.TaskUsage, error) {
	l, err := c.UsageList(ctx)
	if err != nil {
		return nil, err
	}
	if selector == "" {
		return l.Items, nil
	}
	tasks, err := c.List(ctx, selector)
	if err != nil {
		return nil, err
	}
	match := make(map[string]bool, len(tasks.Items))
	for _, t := range tasks.Items {
		match[t.Name] = true
	}
	var items []usage.TaskUsage
	for _, u := range l.Items {
		if match[u.Name] {
			items = append(items, u)
		}
	}
	return items, nil
}

func sortUsage(items []usage.TaskUsage, by string) {
	key := func(u usage.TaskUsage) float64 {
		switch {
		case u.Current == nil:
			return -1
		case by == "memory":
			return float64(u.Current.MemoryBytes)
		case u.Current.CPUCores != nil:
			return *u.Current.CPUCores
		}
		return -1
	}
	sort.SliceStable(items, func(i, j int) bool {
		if by == "" {
			return items[i].Name < items[j].Name
		}
		return key(items[i]) > key(items[j])
	})
}

// printTop writes kubectl top's table: NAME CPU(cores) MEMORY(bytes) %LIMIT.
func printTop(w io.Writer, items []usage.TaskUsage, header bool) error {
	p := &tablePrinter{w: w}
	var rows [][]string
	if header {
		rows = append(rows, []string{"NAME", "CPU(cores)", "MEMORY(bytes)", "%LIMIT"})
	}
	for i := range items {
		rows = append(rows, topRow(&items[i]))
	}
	return p.print(rows...)
}

func topRow(u *usage.TaskUsage) []string {
	cpu, mem, pct := "-", "-", "-"
	if cur := u.Current; cur != nil {
		if cur.CPUCores != nil {
			cpu = strconv.FormatInt(int64(*cur.CPUCores*1000+0.5), 10) + "m"
		}
		mem = strconv.FormatUint((cur.MemoryBytes+(1<<19))>>20, 10) + "Mi"
	}
	if p, ok := u.MemoryPercent(); ok {
		pct = strconv.FormatFloat(p, 'f', 0, 64) + "%"
	}
	return []string{u.Name, cpu, mem, pct}
}
