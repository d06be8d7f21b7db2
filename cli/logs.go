package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func newLogsCommand() *cobra.Command {
	var conn connection
	var opts LogOptions
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print the output of a task's container",
		Long: `Logs prints the stdout and stderr of the task's current container. With -f
it keeps printing until the container stops or you interrupt it. With
--previous it prints the attempt before the current one: each restart is a
new container, and the one before it is kept stopped until the next starts.`,
		Example: `  cubelet logs web
  cubelet logs web --previous
  cubelet logs web -f --tail 20 --timestamps`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.client()
			if err != nil {
				return err
			}
			ctx, stop := interruptible(cmd)
			defer stop()
			err = copyLogs(ctx, c, args[0], opts, cmd.OutOrStdout())
			if ctx.Err() != nil && errors.Is(err, context.Canceled) {
				return nil // interrupted: the normal end of a follow
			}
			return err
		},
	}
	conn.addFlags(cmd.Flags())
	cmd.ValidArgsFunction = completeTaskNames(&conn)
	fs := cmd.Flags()
	fs.BoolVarP(&opts.Follow, "follow", "f", false, "keep streaming new output")
	fs.IntVar(&opts.Tail, "tail", -1, "lines from the end to show; -1 shows all")
	fs.BoolVar(&opts.Timestamps, "timestamps", false, "prefix each line with its RFC3339Nano timestamp")
	fs.BoolVarP(&opts.Previous, "previous", "p", false, "print the previous attempt's output (the container before the last restart)")
	return cmd
}

func copyLogs(ctx context.Context, c *Client, name string, opts LogOptions, out io.Writer) error {
	body, err := c.Logs(ctx, name, opts)
	if err != nil {
		return fmt.Errorf("logs of task/%s: %w", name, err)
	}
	defer body.Close()
	if _, err := io.Copy(out, body); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("logs of task/%s: %w", name, err)
	}
	return nil
}
