package store

import (
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("store: closed")

func notFound(name string) error {
	return apierrors.NewNotFound(v1.Resource, name)
}

func alreadyExists(name string) error {
	return apierrors.NewAlreadyExists(v1.Resource, name)
}

// staleVersion is the Conflict Kubernetes returns for a stale
// resourceVersion, word for word, so clients retry the same way.
func staleVersion(name string) error {
	return apierrors.NewConflict(v1.Resource, name,
		fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again"))
}

func uidMismatch(name string, want, have types.UID) error {
	return apierrors.NewConflict(v1.Resource, name,
		fmt.Errorf("Precondition failed: UID in precondition: %s, UID in object meta: %s", want, have))
}

func tooOld(rv, oldest int64) error {
	return apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", rv, oldest))
}

func beingDeleted(name string) error {
	return apierrors.NewConflict(v1.Resource, name,
		fmt.Errorf("the task is being deleted; its spec can no longer change"))
}
