package runtime

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
)

func TestEventAction_KeepsFirstWord(t *testing.T) {
	for in, want := range map[string]EventAction{
		"die":                        EventDie,
		"exec_start: sh -c date":     "exec_start",
		"health_status: healthy":     "health_status",
		"exec_create: /bin/true arg": "exec_create",
		"destroy":                    EventDestroy,
	} {
		if got := eventAction(in); got != want {
			t.Errorf("eventAction(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEventFromMessage(t *testing.T) {
	ev := eventFromMessage(events.Message{
		Type:     events.ContainerEventType,
		Action:   "exec_start: ls",
		Actor:    events.Actor{ID: "abc", Attributes: map[string]string{"name": "web", "io.cubelet.task": "t"}},
		Time:     1,
		TimeNano: 1_500_000_000,
	})
	if ev.ContainerID != "abc" || ev.Action != "exec_start" || ev.Labels["io.cubelet.task"] != "t" || !ev.Time.Equal(time.Unix(1, 5e8)) {
		t.Fatalf("got %+v", ev)
	}
}

// stream is a fake daemon event stream for pumpEvents.
func stream() (chan events.Message, chan error) {
	return make(chan events.Message), make(chan error, 1)
}

func TestPumpEvents_StreamError_IsReturnedWrapped(t *testing.T) {
	msgs, errs := stream()
	out := make(chan Event, 4)
	done := make(chan error, 1)
	go func() { done <- pumpEvents(context.Background(), msgs, errs, out, nil) }()
	msgs <- events.Message{Type: events.ContainerEventType, Action: "start", Actor: events.Actor{ID: "a"}}
	msgs <- events.Message{Type: events.NetworkEventType, Action: "connect"} // filtered out
	errs <- io.EOF
	if err := <-done; !errors.Is(err, io.EOF) {
		t.Fatalf("pump ended with %v, want EOF", err)
	}
	if len(out) != 1 || (<-out).Action != EventStart {
		t.Fatal("want exactly the container event")
	}
}

func TestPumpEvents_ContextEnd_ReturnsCtxErr(t *testing.T) {
	msgs, errs := stream()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pumpEvents(ctx, msgs, errs, make(chan Event, 1), nil) }()
	cancel()
	errs <- errors.New("client saw the cancel its own way")
	if err := <-done; err != context.Canceled {
		t.Fatalf("pump ended with %v, want context.Canceled", err)
	}
}

func TestPumpEvents_SlowConsumer_OverflowsInsteadOfBlocking(t *testing.T) {
	msgs, errs := stream()
	out := make(chan Event, 2) // nobody reads it
	done := make(chan error, 1)
	go func() { done <- pumpEvents(context.Background(), msgs, errs, out, nil) }()
	for range 3 {
		msgs <- events.Message{Type: events.ContainerEventType, Action: "start"}
	}
	if err := <-done; !errors.Is(err, ErrEventsOverflow) {
		t.Fatalf("pump ended with %v, want ErrEventsOverflow", err)
	}
}
