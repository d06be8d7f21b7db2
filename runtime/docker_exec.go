package runtime

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// Exec runs cmd in the running container id, with no shell and no TTY,
// waits for it to end (or ctx to), and returns its exit code and the start
// of its output. It is how exec probes run: the Engine API's exec create,
// attach (which starts it) and inspect.
//
// When ctx ends first the call returns ctx's error; the command itself is
// not killed (the Engine API cannot), as with kubelet's exec probes on
// Docker.
func (d *Docker) Exec(ctx context.Context, id string, cmd []string) (ExecResult, error) {
	created, err := d.cli.ContainerExecCreate(ctx, id, container.ExecOptions{
		Cmd: cmd, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec %q in container %s: %w", cmd, id, classify(err))
	}
	attached, err := d.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec %q in container %s: attach: %w", cmd, id, classify(err))
	}
	defer attached.Close()

	// The hijacked connection does not watch ctx: close it when ctx ends
	// so the copy below returns.
	stop := context.AfterFunc(ctx, attached.Close)
	defer stop()
	out := &limitedBuffer{max: MaxExecOutput}
	if _, err := stdcopy.StdCopy(out, out, attached.Reader); err != nil && ctx.Err() == nil {
		return ExecResult{}, fmt.Errorf("exec %q in container %s: read output: %w", cmd, id, err)
	}
	if err := ctx.Err(); err != nil {
		return ExecResult{}, fmt.Errorf("exec %q in container %s: %w", cmd, id, err)
	}
	inspected, err := d.cli.ContainerExecInspect(ctx, created.ID)
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec %q in container %s: inspect: %w", cmd, id, classify(err))
	}
	return ExecResult{ExitCode: inspected.ExitCode, Output: out.Bytes()}, nil
}

// limitedBuffer keeps the first max bytes written to it and discards the
// rest, without failing the writer.
//
// +k8s:deepcopy-gen=false
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

var _ io.Writer = (*limitedBuffer)(nil)
