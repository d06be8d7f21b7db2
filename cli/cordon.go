package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// nodeAction posts to one of a node's action subresources (cordon,
// uncordon, drain) and decodes the answer into out. The body is an empty
// JSON object: the server wants a JSON Content-Type on every POST.
func (c *Client) nodeAction(ctx context.Context, name, action string, out any) error {
	_, err := c.call(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(name)+"/"+action, nil, []byte("{}"), out)
	return err
}

// CordonNode sets (cordon) or clears (uncordon) the node's
// spec.unschedulable and returns the node.
func (c *Client) CordonNode(ctx context.Context, name string, cordon bool) (*v1.Node, error) {
	action := "cordon"
	if !cordon {
		action = "uncordon"
	}
	var n v1.Node
	if err := c.nodeAction(ctx, name, action, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

func newCordonCommand() *cobra.Command {
	return newSchedulabilityCommand(true)
}

func newUncordonCommand() *cobra.Command {
	return newSchedulabilityCommand(false)
}

// newSchedulabilityCommand is `cubelet cordon NODE` or `cubelet uncordon
// NODE`, as kubectl's: "node/NAME cordoned", or "already cordoned" when
// there was nothing to change.
func newSchedulabilityCommand(cordon bool) *cobra.Command {
	var conn connection
	verb, short, long := "cordon", "Mark a node unschedulable: the scheduler binds no new task to it",
		`Cordon sets the node's spec.unschedulable: the scheduler binds no new task
there. The tasks already bound to it keep running; drain moves them.`
	if !cordon {
		verb, short, long = "uncordon", "Mark a node schedulable again",
			`Uncordon clears the node's spec.unschedulable: the scheduler may bind tasks
there again. Tasks a drain moved away stay where they are.`
	}
	cmd := &cobra.Command{
		Use:     verb + " NODE",
		Short:   short,
		Long:    long,
		Example: "  cubelet " + verb + " node-2",
		Args:    cobra.ExactArgs(1),
		RunE: runWithClient(&conn, func(ctx context.Context, cmd *cobra.Command, c *Client, args []string) error {
			name := args[0]
			result, err := setSchedulable(ctx, c, name, cordon)
			if err != nil {
				return fmt.Errorf("%s node/%s: %w", verb, name, err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "node/%s %s\n", name, result)
			return err
		}),
	}
	conn.addFlags(cmd.Flags())
	cmd.ValidArgsFunction = completeNodeNames(&conn)
	return cmd
}

// setSchedulable cordons or uncordons name and says what it did:
// "cordoned", or "already cordoned" (read first, as kubectl does).
func setSchedulable(ctx context.Context, c *Client, name string, cordon bool) (string, error) {
	verb := "cordoned"
	if !cordon {
		verb = "uncordoned"
	}
	n, err := c.GetNode(ctx, name)
	if err != nil {
		return "", err
	}
	if n.Spec.Unschedulable == cordon {
		return "already " + verb, nil
	}
	if _, err := c.CordonNode(ctx, name, cordon); err != nil {
		return "", err
	}
	return verb, nil
}

// completeNodeNames completes the first argument with the cluster's node
// names; it stays silent when the server is unreachable or a single host.
func completeNodeNames(o *connection) cobra.CompletionFunc {
	return completeNames(o, func(ctx context.Context, c *Client) ([]string, error) {
		l, err := c.ListNodes(ctx)
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(l.Items))
		for _, n := range l.Items {
			names = append(names, n.Name)
		}
		return names, nil
	})
}
