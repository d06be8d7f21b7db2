package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func asServerError(err error, target **ServerError) bool { return errors.As(err, target) }

// run executes the root command with args against server (through
// CUBELET_SERVER, so completion sees the args as typed), feeding stdin. It
// returns stdout, and the error with stderr appended.
func run(t *testing.T, server, stdin string, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "cubelet", SilenceUsage: true, SilenceErrors: true}
	AddCommands(root)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	t.Setenv(ServerEnv, server)
	if err := root.Execute(); err != nil {
		return out.String(), fmt.Errorf("%w; stderr: %s", err, errOut.String())
	}
	return out.String(), nil
}
