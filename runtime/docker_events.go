package runtime

import (
	"context"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// EventBuffer is how many events Events holds for a consumer that is busy.
// The daemon drops events, silently, for a subscriber that stays 100 ms
// behind, so Events reads the daemon's stream without ever waiting for its
// consumer; a consumer that falls EventBuffer events behind gets
// ErrEventsOverflow instead of a silent gap, and should resubscribe and
// relist. A converge of thousands of tasks emits two events per container
// in bursts while the consumer competes for CPU with the reconciles; at
// 1,024 the in-process bench overflowed under load and paid a relist
// and a requeue of every task (issue 14). 8,192 events are about 0.5 MiB.
const EventBuffer = 8192

// Events streams events of containers that carry labelKey=labelValue (of all
// containers when labelKey is empty), from the moment of the call, including
// those the daemon emits before it has registered the subscription. Every
// container action is passed on; Action is the first word of Docker's action
// ("exec_start: sh" becomes "exec_start", "health_status: healthy"
// "health_status"). Labels are the event's attributes: the container's labels
// plus the attributes Docker adds itself (name, image, exitCode, signal).
//
// When the stream ends the error channel receives exactly one error: ctx.Err()
// when ctx ended, ErrEventsOverflow when the consumer fell behind, else why
// the stream broke. Then both channels are closed; events already buffered
// are still delivered before the event channel closes.
func (d *Docker) Events(ctx context.Context, labelKey, labelValue string) (<-chan Event, <-chan error) {
	args := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)))
	if labelKey != "" {
		args.Add("label", labelKey+"="+labelValue)
	}
	// The client returns before the daemon has registered the subscription,
	// so an event in between would be lost, and "subscribe, then list"
	// would have a hole. Asking for events since the call closes it: the
	// daemon replays what it logged from that instant on.
	now := time.Now()
	since := fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond())
	streamCtx, cancel := context.WithCancel(ctx)
	msgs, errs := d.cli.Events(streamCtx, events.ListOptions{Since: since, Filters: args})

	out := make(chan Event, EventBuffer)
	errc := make(chan error, 1)
	go func() {
		defer cancel()
		errc <- pumpEvents(ctx, msgs, errs, out, d.oom.note)
		close(out)
		close(errc)
	}()
	return out, errc
}

// pumpEvents moves the daemon's messages to out until the stream ends, and
// returns why it ended.
func pumpEvents(ctx context.Context, msgs <-chan events.Message, errs <-chan error, out chan<- Event, note func(Event)) error {
	for {
		select {
		case m := <-msgs:
			if m.Type != events.ContainerEventType {
				continue
			}
			ev := eventFromMessage(m)
			if note != nil {
				note(ev)
			}
			select {
			case out <- ev:
			default:
				return ErrEventsOverflow
			}
		case err, ok := <-errs:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !ok || err == nil {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("container events: %w", err)
		}
	}
}

// eventFromMessage turns one of Docker's event messages into an Event.
func eventFromMessage(m events.Message) Event {
	t := time.Unix(0, m.TimeNano)
	if m.TimeNano == 0 {
		t = time.Unix(m.Time, 0)
	}
	return Event{
		ContainerID: m.Actor.ID,
		Action:      eventAction(string(m.Action)),
		Labels:      maps.Clone(m.Actor.Attributes),
		Time:        t,
	}
}

// eventAction keeps the first word of a Docker action: some carry details
// after a colon ("exec_start: sh -c date", "health_status: healthy").
func eventAction(action string) EventAction {
	if i := strings.IndexAny(action, ": "); i >= 0 {
		action = action[:i]
	}
	return EventAction(action)
}
