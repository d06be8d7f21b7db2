package runtime

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// ContainerLogs returns the container's stdout and stderr, interleaved as
// they were written and stripped of Docker's stream framing. With
// opts.Follow the reader stays open until the container stops, ctx ends or
// the reader is closed; the caller must close it.
//
// Containers made by CreateContainer have no TTY, so their log stream is
// always multiplexed.
func (d *Docker) ContainerLogs(ctx context.Context, id string, opts LogOptions) (io.ReadCloser, error) {
	tail := "all"
	if opts.Tail >= 0 {
		tail = strconv.Itoa(opts.Tail)
	}
	rc, err := d.cli.ContainerLogs(ctx, id, container.LogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Follow:     opts.Follow,
		Tail:       tail,
		Timestamps: opts.Timestamps,
	})
	if err != nil {
		return nil, fmt.Errorf("logs of container %s: %w", id, classify(err))
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, rc)
		pw.CloseWithError(err) // nil closes with io.EOF
	}()
	return &demuxedLogs{PipeReader: pr, raw: rc}, nil
}

// demuxedLogs is the read end of the demultiplexed stream; closing it also
// closes the daemon's stream, which ends the copying goroutine.
//
// +k8s:deepcopy-gen=false
type demuxedLogs struct {
	*io.PipeReader
	raw io.Closer
}

func (l *demuxedLogs) Close() error {
	err := l.raw.Close()
	_ = l.PipeReader.Close()
	return err
}
