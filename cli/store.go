package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cubelet/cubelet/store"
)

// storeBackupPath is the server's backup route (handlers.BackupPath; the
// client does not import the server).
const storeBackupPath = "/v1/store/backup"

func newStoreCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Back up the task store of a running cubelet",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newStoreBackupCommand())
	return cmd
}

func newStoreBackupCommand() *cobra.Command {
	var conn connection
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the running cubelet's store to FILE",
		Long: `Backup asks the running cubelet for a consistent copy of its store (one
read transaction, taken while it keeps serving) and writes it to FILE,
mode 0600: the copy holds every task's command and environment. FILE
appears only once the whole copy has arrived and verified (page structure
and every record's checksum); a failed backup leaves an existing FILE as
it was.

To restore: stop cubelet, copy FILE to DATA_DIR/cubelet.db, start cubelet.
The restored store keeps its instance ID, so cubelet finds its containers
again.`,
		Example: `  cubelet store backup /var/backups/cubelet-$(date +%F).db`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.client()
			if err != nil {
				return err
			}
			ctx, stop := interruptible(cmd)
			defer stop()
			info, n, err := backupStore(ctx, c, args[0])
			if err != nil {
				return fmt.Errorf("store backup: %w", err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "backed up %d tasks at revision %d (instance %s, %d bytes) to %s\n",
				info.Tasks, info.Revision, info.InstanceID, n, args[0])
			return err
		},
	}
	conn.addFlags(cmd.Flags())
	return cmd
}

// backupStore downloads the copy next to path, verifies it and renames it
// into place, so path is either the old file or a whole, sound copy.
func backupStore(ctx context.Context, c *Client, path string) (info store.FileInfo, n int64, err error) {
	body, err := c.stream(ctx, storeBackupPath, nil)
	if err != nil {
		return info, 0, err
	}
	defer body.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*") // 0600
	if err != nil {
		return info, 0, err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if n, err = io.Copy(tmp, body); err != nil {
		return info, n, fmt.Errorf("receive the copy after %d bytes: %w", n, err)
	}
	if err = tmp.Sync(); err != nil {
		return info, n, err
	}
	if err = tmp.Close(); err != nil {
		return info, n, err
	}
	if info, err = store.VerifyFile(tmp.Name()); err != nil {
		if errors.Is(err, store.ErrCorrupt) {
			err = fmt.Errorf("the copy received does not verify, %s is left as it was: %w", path, err)
		}
		return info, n, err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return info, n, err
	}
	// The rename is durable once the directory is synced.
	if dir, derr := os.Open(filepath.Dir(path)); derr == nil {
		_ = dir.Sync()
		_ = dir.Close()
	}
	return info, n, nil
}
