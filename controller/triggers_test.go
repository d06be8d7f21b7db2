package controller

import "testing"

func TestTriggerBook_KeepsTheMostTellingReason(t *testing.T) {
	b := newTriggerBook()
	b.add("web", triggerResync)
	b.add("web", triggerDockerEvent+":destroy")
	b.add("web", triggerResync)
	if got := b.take("web"); got != "docker-event:destroy" {
		t.Fatalf("trigger = %q, want the docker event", got)
	}
	if got := b.take("web"); got != triggerRetry {
		t.Fatalf("trigger of an unrecorded take = %q, want retry", got)
	}
}
