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
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := o.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		l, err := c.List(cmd.Context(), "")
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := make([]cobra.Completion, 0, len(l.Items))
		for _, t := range l.Items {
			names = append(names, t.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
