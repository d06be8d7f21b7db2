package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// Event is one watch event as the client sees it: a task for ADDED,
// MODIFIED and DELETED; only a resourceVersion for BOOKMARK; the server's
// status for ERROR.
type Event struct {
	Type watch.EventType
	// Task is the object of ADDED, MODIFIED and DELETED.
	Task *v1.Task
	// ResourceVersion is the revision the event brings the watcher to.
	ResourceVersion string
	// Status is the object of an ERROR event (410 Expired, for one).
	Status *metav1.Status
}

// Watcher reads one watch stream. It is not safe for concurrent use.
type Watcher struct {
	body io.ReadCloser
	dec  *json.Decoder
}

// Watch opens GET /v1/tasks?watch=true from resourceVersion ("" or "0"
// starts with an ADDED event per existing task), asking for bookmarks.
func (c *Client) Watch(ctx context.Context, selector, resourceVersion string) (*Watcher, error) {
	q := url.Values{"watch": {"true"}, "allowWatchBookmarks": {"true"}}
	if selector != "" {
		q.Set("labelSelector", selector)
	}
	if resourceVersion != "" {
		q.Set("resourceVersion", resourceVersion)
	}
	body, err := c.stream(ctx, "/v1/tasks", q)
	if err != nil {
		return nil, err
	}
	return &Watcher{body: body, dec: json.NewDecoder(body)}, nil
}

// wireEvent is a line of the stream: {"type": ..., "object": ...}.
type wireEvent struct {
	Type   watch.EventType `json:"type"`
	Object json.RawMessage `json:"object"`
}

// Next blocks for the next event. io.EOF means the server ended the stream
// cleanly (a timeout, a watcher that fell too far behind): resume from the
// last resourceVersion seen.
func (w *Watcher) Next() (Event, error) {
	var we wireEvent
	if err := w.dec.Decode(&we); err != nil {
		if errors.Is(err, io.EOF) {
			return Event{}, io.EOF
		}
		return Event{}, fmt.Errorf("read watch stream: %w", err)
	}
	ev := Event{Type: we.Type}
	switch we.Type {
	case watch.Added, watch.Modified, watch.Deleted:
		var t v1.Task
		if err := json.Unmarshal(we.Object, &t); err != nil {
			return Event{}, fmt.Errorf("decode %s event: %w", we.Type, err)
		}
		ev.Task, ev.ResourceVersion = &t, t.ResourceVersion
	case watch.Bookmark:
		var b struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		if err := json.Unmarshal(we.Object, &b); err != nil {
			return Event{}, fmt.Errorf("decode BOOKMARK event: %w", err)
		}
		ev.ResourceVersion = b.Metadata.ResourceVersion
	case watch.Error:
		var st metav1.Status
		if err := json.Unmarshal(we.Object, &st); err != nil {
			return Event{}, fmt.Errorf("decode ERROR event: %w", err)
		}
		ev.Status = &st
	default:
		return Event{}, fmt.Errorf("unknown watch event type %q", we.Type)
	}
	return ev, nil
}

// Close ends the stream.
func (w *Watcher) Close() error { return w.body.Close() }
