package handlers

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// 64 clients race to update one task, all holding the same resourceVersion,
// over real HTTP on loopback, round after round: exactly one write wins
// each version, every other client gets 409 Conflict, the winner's spec is
// the one stored, and the watch sees exactly one change per version.
func TestPutTask_64ClientsSameResourceVersion_ExactlyOneWinsPerVersion(t *testing.T) {
	const clients, rounds = 64, 8
	e := newTestEnv(t)
	created := e.put(t, "race", taskJSON("nginx", nil), http.StatusCreated)
	w, err := e.store.Watch(context.Background(), created.ResourceVersion)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: testTimeout}
	cur := created
	for round := range rounds {
		type result struct {
			client int
			code   int
			body   string
			err    error
		}
		results := make(chan result, clients)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for c := range clients {
			body := fmt.Sprintf(`{"metadata":{"resourceVersion":%q},"spec":{"image":"nginx","env":[{"name":"WRITER","value":"%d-%d"}]}}`,
				cur.ResourceVersion, round, c)
			wg.Go(func() {
				<-start
				code, data, err := putWith(client, e.srv.URL+"/v1/tasks/race", body)
				results <- result{client: c, code: code, body: data, err: err}
			})
		}
		close(start)
		wg.Wait()
		close(results)

		winners := []int{}
		for r := range results {
			switch {
			case r.err != nil:
				t.Fatalf("round %d client %d: %v", round, r.client, r.err)
			case r.code == http.StatusOK:
				winners = append(winners, r.client)
			case r.code == http.StatusConflict:
				if !strings.Contains(r.body, `"reason":"Conflict"`) {
					t.Errorf("round %d client %d: 409 body is not a Conflict status: %s", round, r.client, r.body)
				}
			default:
				t.Fatalf("round %d client %d: code %d: %s", round, r.client, r.code, r.body)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d writes won (%v), want exactly 1", round, len(winners), winners)
		}
		next := e.get(t, "race")
		want := fmt.Sprintf("%d-%d", round, winners[0])
		if len(next.Spec.Env) != 1 || next.Spec.Env[0].Value != want {
			t.Fatalf("round %d: stored env %+v, want the winner's %s", round, next.Spec.Env, want)
		}
		if next.Generation != cur.Generation+1 {
			t.Fatalf("round %d: generation %d, want %d", round, next.Generation, cur.Generation+1)
		}
		select {
		case ev := <-w.ResultChan():
			if got := ev.Object.(*v1.Task); ev.Type != watch.Modified || got.ResourceVersion != next.ResourceVersion {
				t.Fatalf("round %d: event %s at %s, want MODIFIED at %s", round, ev.Type, got.ResourceVersion, next.ResourceVersion)
			}
		case <-time.After(testTimeout):
			t.Fatalf("round %d: no watch event", round)
		}
		cur = next
	}
	select {
	case ev := <-w.ResultChan():
		t.Fatalf("an extra write reached the store: %s %+v", ev.Type, ev.Object)
	default:
	}
}

// putWith PUTs body and returns the code and body; safe off the test
// goroutine.
func putWith(client *http.Client, url, body string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), err
}
