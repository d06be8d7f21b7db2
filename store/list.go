package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// ListOptions selects what ListStream reads: the tasks Selector matches
// (nil: all), at most Limit of them (0: all), after the position a
// previous page's Continue token names.
type ListOptions struct {
	Selector labels.Selector
	Limit    int64
	Continue string
}

// ListMeta is what a streamed list learned besides its items: the
// resourceVersion to watch from, and the token of the next page when the
// list was cut by Limit.
type ListMeta struct {
	ResourceVersion string
	Continue        string
}

// Streamer is a store that can hand out a list one item at a time, with
// Kubernetes' limit and continue, instead of building it whole (see
// Bolt.ListStream). The HTTP list uses it when the store has it.
type Streamer interface {
	ListStream(ctx context.Context, opts ListOptions, each func(*v1.Task) error) (ListMeta, error)
}

var _ Streamer = (*Bolt)(nil)

// listChunk is how many tasks ListStream reads per read transaction. A
// transaction is never held while the caller writes to a client (a slow
// reader would stall the writes that must grow the file), and memory stays
// at one chunk however long the list.
const listChunk = 256

// continueToken is the content of an opaque continue token, as
// Kubernetes' apiserver makes it: the revision of the first page and the
// key to resume from.
type continueToken struct {
	Version string `json:"v"`
	RV      int64  `json:"rv"`
	Start   string `json:"start"`
}

const continueVersion = "cubelet/v1"

func encodeContinue(rv int64, start string) string {
	data, _ := json.Marshal(continueToken{Version: continueVersion, RV: rv, Start: start}) // plain struct: cannot fail
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeContinue(token string) (continueToken, error) {
	var c continueToken
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err == nil {
		err = json.Unmarshal(data, &c)
	}
	if err == nil && (c.Version != continueVersion || c.RV <= 0 || c.Start == "") {
		err = fmt.Errorf("unknown content")
	}
	if err != nil {
		return continueToken{}, apierrors.NewBadRequest(fmt.Sprintf("invalid continue token: %v", err))
	}
	return c, nil
}

// ListStream calls each for the tasks opts selects, in name order, reading
// them listChunk at a time, and returns the list's resourceVersion and, if
// opts.Limit cut it, the token of the next page.
//
// Semantics, as the Kubernetes apiserver's paging over etcd where it can,
// and where bbolt keeps no old revisions to read from, as a reflector
// needs them:
//   - The resourceVersion is that of the first read (for a continued list,
//     of the list's first page, carried in the token). Every task that
//     exists throughout the list is handed out exactly once, at its state
//     at that read or later. A watch from the resourceVersion replays every
//     change after it, so list-then-watch ends at the truth whatever
//     changed while the pages were read.
//   - So a continue token holds while the watch window still has the
//     events after its revision; once they are evicted, continuing fails
//     with 410 Expired (as for a compacted revision in etcd) and the
//     client starts a new list. A token that does not decode is 400.
//
// each runs outside any read transaction; an error from it ends the list
// and is returned as it is.
func (b *Bolt) ListStream(ctx context.Context, opts ListOptions, each func(*v1.Task) error) (ListMeta, error) {
	selector := opts.Selector
	if selector == nil {
		selector = labels.Everything()
	}
	if opts.Limit < 0 {
		return ListMeta{}, apierrors.NewBadRequest(fmt.Sprintf("invalid limit %d", opts.Limit))
	}
	rev := int64(-1)
	var start []byte
	if opts.Continue != "" {
		c, err := decodeContinue(opts.Continue)
		if err != nil {
			return ListMeta{}, err
		}
		if err := b.continuable(c.RV); err != nil {
			return ListMeta{}, err
		}
		rev, start = c.RV, []byte(c.Start)
	}
	left := opts.Limit
	for {
		n := listChunk
		if opts.Limit > 0 && left < int64(n) {
			n = int(left)
		}
		var tasks []*v1.Task
		var next []byte
		err := b.view(ctx, func(tx *bolt.Tx) error {
			if rev < 0 {
				r, err := readRevision(tx)
				if err != nil {
					return err
				}
				rev = r
			}
			var err error
			tasks, next, err = readChunk(tx, selector, start, n)
			return err
		})
		if err != nil {
			return ListMeta{}, fmt.Errorf("list tasks: %w", err)
		}
		for _, t := range tasks {
			if err := each(t); err != nil {
				return ListMeta{}, err
			}
		}
		meta := ListMeta{ResourceVersion: formatRevision(rev)}
		if next == nil {
			return meta, nil
		}
		if opts.Limit > 0 {
			if left -= int64(len(tasks)); left <= 0 {
				meta.Continue = encodeContinue(rev, string(next))
				return meta, nil
			}
		}
		start = next
	}
}

// continuable reports whether a list whose first page was read at rev can
// go on: the events after rev must still be in the watch window.
func (b *Bolt) continuable(rev int64) error {
	b.hub.mu.Lock()
	oldest, current := b.hub.window.oldest(), b.hub.window.start+int64(b.hub.window.n)
	b.hub.mu.Unlock()
	switch {
	case rev > current:
		return apierrors.NewBadRequest(fmt.Sprintf("invalid continue token: revision %d is in the future", rev))
	case rev < oldest-1:
		return apierrors.NewResourceExpired(fmt.Sprintf("the continue token of revision %d has expired (oldest kept %d): start a new list", rev, oldest))
	}
	return nil
}

// readChunk decodes up to n tasks matching selector with keys from start
// on (all when start is nil). next is the key after the last one examined,
// nil when the bucket ends there.
func readChunk(tx *bolt.Tx, selector labels.Selector, start []byte, n int) (tasks []*v1.Task, next []byte, err error) {
	c := tx.Bucket([]byte(tasksBucket)).Cursor()
	var k, v []byte
	if start == nil {
		k, v = c.First()
	} else {
		k, v = c.Seek(start)
	}
	for ; k != nil; k, v = c.Next() {
		if len(tasks) == n {
			return tasks, bytes.Clone(k), nil
		}
		t, err := readTask(tx, k, v)
		if err != nil {
			return nil, nil, err
		}
		if selector.Matches(labels.Set(t.Labels)) {
			tasks = append(tasks, t)
		}
	}
	return tasks, nil, nil
}
