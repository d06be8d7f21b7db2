// Command cubelet is a declarative container supervisor for one Docker
// host: `cubelet serve` runs the API, the store and the controller; the
// other subcommands are its kubectl-like client.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/cubelet/cubelet/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	root := &cobra.Command{
		Use:           "cubelet",
		Short:         "A declarative container supervisor for one Docker host",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCommand())
	root.AddCommand(newVersionCommand())
	cli.AddCommands(root)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the cubelet version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "cubelet", version)
		},
	}
}
