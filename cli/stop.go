package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/client-go/util/retry"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

func newStopCommand() *cobra.Command {
	var conn connection
	cmd := &cobra.Command{
		Use:   "stop NAME",
		Short: "Stop a task and keep it stopped (spec.desiredState=Completed)",
		Long: `Stop sets the task's spec.desiredState to Completed: cubelet stops its
container (SIGTERM, then SIGKILL after the grace period) and the task ends
Completed. It is the declarative form of Cube's DELETE; the task stays
until deleted.`,
		Example: `  cubelet stop web`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.client()
			if err != nil {
				return err
			}
			result, err := stopTask(cmd.Context(), c, args[0])
			if err != nil {
				return fmt.Errorf("stop task/%s: %w", args[0], err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "task/%s %s\n", args[0], result)
			return err
		},
	}
	conn.addFlags(cmd.Flags())
	cmd.ValidArgsFunction = completeTaskNames(&conn)
	return cmd
}

// stopTask is a read-modify-write of spec.desiredState with the read's
// resourceVersion as precondition, retried on 409 Conflict (a status write
// or another client got in between), as client-go's retry.RetryOnConflict
// prescribes.
func stopTask(ctx context.Context, c *Client, name string) (string, error) {
	result := "stopped"
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		t, err := c.Get(ctx, name)
		if err != nil {
			return err
		}
		if t.Spec.DesiredState == v1.Completed {
			result = "unchanged (already stopped)"
			return nil
		}
		t.Spec.DesiredState = v1.Completed
		_, _, err = c.Put(ctx, applyable(t, true))
		return err
	})
	return result, err
}
