package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

func newApplyCommand() *cobra.Command {
	var conn connection
	var files []string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|-",
		Short: "Create or update tasks from YAML or JSON files",
		Long: `Apply creates or updates every task in the given files (YAML or JSON; many
YAML documents separated by "---"; a TaskList too) with a declarative PUT.
Only metadata.name, labels, annotations and spec are sent: the output of
"cubelet get -o yaml NAME" applies as a no-op.`,
		Example: `  cubelet apply -f examples/web.yaml
  cubelet get -o yaml web | cubelet apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.client()
			if err != nil {
				return err
			}
			var tasks []*v1.Task
			for _, f := range files {
				ts, err := readManifestFile(f, cmd.InOrStdin())
				if err != nil {
					return err
				}
				tasks = append(tasks, ts...)
			}
			if len(tasks) == 0 {
				return errors.New("no tasks found in the given files")
			}
			var failed []error
			for _, t := range tasks {
				result, err := applyTask(cmd.Context(), c, t)
				if err != nil {
					// Keep going, as kubectl does: one bad task does
					// not hold back the others.
					failed = append(failed, err)
					fmt.Fprintln(cmd.ErrOrStderr(), "error:", err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "task/%s %s\n", t.Name, result)
			}
			if len(failed) > 0 {
				return fmt.Errorf("%d of %d tasks failed to apply", len(failed), len(tasks))
			}
			return nil
		},
	}
	conn.addFlags(cmd.Flags())
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "file to apply, - for stdin (repeatable)")
	_ = cmd.MarkFlagRequired("filename")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	return cmd
}

// readManifestFile reads the tasks in path, or in stdin for "-".
func readManifestFile(path string, stdin io.Reader) ([]*v1.Task, error) {
	if path == "-" {
		return readManifests(stdin, "stdin")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open manifest: %w", err)
	}
	defer f.Close()
	return readManifests(f, path)
}

// applyTask PUTs what the user owns of t and says what happened:
// created, configured, or unchanged when the server kept the same
// generation, labels and annotations. The GET before the PUT is only there
// to tell configured from unchanged.
func applyTask(ctx context.Context, c *Client, t *v1.Task) (string, error) {
	if t.Name == "" {
		return "", errors.New("a task without metadata.name cannot be applied")
	}
	before, err := c.Get(ctx, t.Name)
	if err != nil && !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("apply task/%s: %w", t.Name, err)
	}
	after, created, err := c.Put(ctx, applyable(t, false))
	if err != nil {
		return "", fmt.Errorf("apply task/%s: %w", t.Name, err)
	}
	switch {
	case created:
		return "created", nil
	case before != nil && before.Generation == after.Generation &&
		equality.Semantic.DeepEqual(before.Labels, after.Labels) &&
		equality.Semantic.DeepEqual(before.Annotations, after.Annotations):
		return "unchanged", nil
	default:
		return "configured", nil
	}
}
