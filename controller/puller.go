package controller

import (
	"context"
	"errors"
	"time"

	"golang.org/x/sync/singleflight"
)

// Status reasons of image trouble, as kubelet names them.
const (
	ReasonErrImagePull      = "ErrImagePull"
	ReasonImagePullBackOff  = "ImagePullBackOff"
	ReasonErrImageNeverPull = "ErrImageNeverPull"
)

// pullTimeout bounds one pull; it is shared by every task waiting on it, so
// it does not follow any one caller's context.
const pullTimeout = 10 * time.Minute

// imageError is a failure to make an image available; its reason goes to
// the task's status.
type imageError struct {
	reason string
	err    error
}

func (e *imageError) Error() string { return e.err.Error() }
func (e *imageError) Unwrap() error { return e.err }

// imagePuller makes images available per pull policy, with one pull per
// image at a time however many tasks wait on it (Nomad's coordinator does
// the same).
type imagePuller struct {
	runtime Runtime
	flight  singleflight.Group
}

func newImagePuller(rt Runtime) *imagePuller {
	return &imagePuller{runtime: rt}
}

// pull pulls image, joining a pull of the same image already under way.
// A failure is an *imageError.
func (p *imagePuller) pull(ctx context.Context, image string) error {
	result := p.flight.DoChan(image, func() (interface{}, error) {
		pullCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pullTimeout)
		defer cancel()
		return nil, p.runtime.PullImage(pullCtx, image)
	})
	select {
	case <-ctx.Done():
		return ctx.Err()
	case r := <-result:
		if r.Err != nil {
			return &imageError{reason: ReasonErrImagePull, err: r.Err}
		}
		return nil
	}
}

// imageReason returns the status reason of err, or "" when err is no image
// failure. A pull failing again after ErrImagePull is ImagePullBackOff.
func imageReason(err error, previousReason string) string {
	var ie *imageError
	if !errors.As(err, &ie) {
		return ""
	}
	if ie.reason == ReasonErrImagePull && (previousReason == ReasonErrImagePull || previousReason == ReasonImagePullBackOff) {
		return ReasonImagePullBackOff
	}
	return ie.reason
}
