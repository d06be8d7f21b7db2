package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// AddCommands adds the client subcommands to the cubelet root command.
// cobra adds its `completion` command to any root with subcommands, so
// shell completion comes with it; task names complete from the server.
func AddCommands(root *cobra.Command) {
	root.AddCommand(
		newApplyCommand(),
		newGetCommand(),
		newDescribeCommand(),
		newDeleteCommand(),
		newLogsCommand(),
		newStopCommand(),
		newStoreCommand(),
		newTopCommand(),
		newCordonCommand(),
		newUncordonCommand(),
		newDrainCommand(),
	)
}

// connection holds the flags every client command has: where the server
// is and how to authenticate. They are per command, not persistent on the
// root, so `cubelet serve` keeps its own --token-file and has no --server.
type connection struct {
	server    string
	tokenFile string
}

func (o *connection) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.server, "server", "", "cubelet API address (default $"+ServerEnv+", else "+DefaultServer+")")
	fs.StringVar(&o.tokenFile, "token-file", "", "file holding the bearer token to send")
}

// client builds the Client the flags describe.
func (o *connection) client() (*Client, error) {
	server := o.server
	if server == "" {
		server = os.Getenv(ServerEnv)
	}
	if server == "" {
		server = DefaultServer
	}
	token, err := ReadTokenFile(o.tokenFile)
	if err != nil {
		return nil, err
	}
	return NewClient(server, token)
}

// interruptible is cmd's context, cancelled by Ctrl-C or SIGTERM: streams
// (get -w, logs -f, delete --wait) end cleanly instead of being killed.
func interruptible(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}

// completeTaskNames completes the first argument with the server's task
// names; it stays silent when the server is unreachable.
func completeTaskNames(o *connection) cobra.CompletionFunc {
	return completeNames(o, func(ctx context.Context, c *Client) ([]string, error) {
		l, err := c.List(ctx, "")
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(l.Items))
		for _, t := range l.Items {
			names = append(names, t.Name)
		}
		return names, nil
	})
}

// completeNames completes the first argument with the names list reads
// from the server; it stays silent when the server cannot answer.
func completeNames(o *connection, list func(ctx context.Context, c *Client) ([]string, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := o.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names, err := list(cmd.Context(), c)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// runWithClient is the RunE of a command that calls the server: a client
// for o and a context that ends on Ctrl-C or SIGTERM.
func runWithClient(o *connection, run func(ctx context.Context, cmd *cobra.Command, c *Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		ctx, stop := interruptible(cmd)
		defer stop()
		return run(ctx, cmd, c, args)
	}
}
