package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"
)

func newDeleteCommand() *cobra.Command {
	var conn connection
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a task: its containers are stopped and removed, then the task",
		Long: `Delete marks the task for deletion; the controller stops and removes its
containers, then the task goes. With --wait, delete returns only once the
task (and so every container of it) is gone.`,
		Example: `  cubelet delete web
  cubelet delete web --wait --timeout 2m`,
		Args: cobra.ExactArgs(1),
		RunE: runWithClient(&conn, func(ctx context.Context, cmd *cobra.Command, c *Client, args []string) error {
			name := args[0]
			if _, err := c.Delete(ctx, name); err != nil {
				return fmt.Errorf("delete task/%s: %w", name, err)
			}
			if wait {
				if err := waitDeleted(ctx, c, name, timeout); err != nil {
					return fmt.Errorf("delete task/%s: %w", name, err)
				}
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "task/%s deleted\n", name)
			return err
		}),
	}
	conn.addFlags(cmd.Flags())
	cmd.ValidArgsFunction = completeTaskNames(&conn)
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the task and its containers are gone")
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "how long --wait waits")
	return cmd
}

// waitDeleted returns once GET answers 404 for name. Between GETs it
// watches from the task's resourceVersion for its DELETED event, so it
// wakes at once instead of polling; a watch that ends or expires just
// leads to the next GET.
func waitDeleted(ctx context.Context, c *Client, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		t, err := c.Get(ctx, name)
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return waitError(ctx, timeout, err)
		}
		err = followTasks(ctx, c, "", t.ResourceVersion, func(ev Event) (bool, error) {
			return ev.Type == watch.Deleted && ev.Task.Name == name, nil
		})
		if err != nil && !isExpired(err) {
			return waitError(ctx, timeout, err)
		}
	}
}

func waitError(ctx context.Context, timeout time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("still there after --timeout %s: %w", timeout, err)
	}
	return err
}
