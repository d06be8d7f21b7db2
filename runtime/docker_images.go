package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/image"
)

// PullImage pulls ref (":latest" when it names no tag) and returns once the
// daemon has stored it. The daemon reports many failures inside the progress
// stream rather than as an HTTP status, so the stream is read to its end and
// the first error in it is returned, with the daemon's message verbatim.
// A repository the registry does not know is an error wrapping ErrNotFound
// when the daemon says so with its status code.
func (d *Docker) PullImage(ctx context.Context, ref string) error {
	rc, err := d.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return fmt.Errorf("pull image %s: %w", ref, classify(err))
	}
	defer rc.Close()
	if err := pullStreamError(rc); err != nil {
		return fmt.Errorf("pull image %s: %w", ref, err)
	}
	return nil
}

// pullMessage is the part of a progress message that can carry an error.
type pullMessage struct {
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// pullStreamError reads a pull's JSON progress stream to its end and returns
// the first error the daemon wrote into it.
func pullStreamError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m pullMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read progress: %w", err)
		}
		switch {
		case m.ErrorDetail != nil && m.ErrorDetail.Message != "":
			return errors.New(m.ErrorDetail.Message)
		case m.Error != "":
			return errors.New(m.Error)
		}
	}
}
