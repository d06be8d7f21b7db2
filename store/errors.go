package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
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

// ErrCorrupt matches (errors.Is) every error reporting a damaged store
// file; errors.As with *CorruptError gives the file and what was found.
var ErrCorrupt = errors.New("store: damaged")

// CorruptError reports damage found in the store file: on Open (its pages,
// its size, a record) or by a later read (a record's checksum). The store
// never serves what it describes.
type CorruptError struct {
	// Path is the store file.
	Path string
	// Where is the damaged part: a record ("tasks/web"), a page, the
	// file's size.
	Where string
	// Err is what was found.
	Err error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("store %s is damaged: %s: %v", e.Path, e.Where, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) hold for every CorruptError.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Remedy tells the operator what to do, for the message cubelet exits
// with.
func (e *CorruptError) Remedy() string {
	return fmt.Sprintf("cubelet will not start on a damaged store. Either restore a backup: stop cubelet, copy the file written by `cubelet store backup` to %s, start cubelet; "+
		"or move %s away to start a new, empty instance (the containers of the old instance are then foreign to it and left running)", e.Path, e.Path)
}

// corruptValue is the CorruptError of the value stored under bucket/key.
func corruptValue(tx *bolt.Tx, bucket string, key []byte, err error) error {
	return &CorruptError{Path: tx.DB().Path(), Where: fmt.Sprintf("record %s/%q", bucket, key), Err: err}
}

// ErrLocked matches (errors.Is) the error of an Open refused because
// another process holds the store.
var ErrLocked = errors.New("store: locked by another process")

// LockedError names the process that holds the store.
type LockedError struct {
	Path string
	// PID is the holder's process ID, 0 when its lock file names none.
	PID int
}

func (e *LockedError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("store %s is locked by another cubelet", e.Path)
	}
	return fmt.Sprintf("store %s is locked by another cubelet (pid %d)", e.Path, e.PID)
}

// Is makes errors.Is(err, ErrLocked) hold for every LockedError.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }
