package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
)

func TestListTasks_Paged_EveryTaskOnce(t *testing.T) {
	env := newTestEnv(t)
	var last *v1.Task
	for i := range 25 {
		last = env.put(t, fmt.Sprintf("t-%02d", i), taskJSON("nginx", map[string]string{"n": fmt.Sprint(i % 3)}), http.StatusCreated)
	}
	for _, q := range []string{"limit=4", "limit=1", "limit=25", "limit=100", "limit=0", "labelSelector=n%3D1&limit=2"} {
		t.Run(q, func(t *testing.T) {
			var names []string
			cont := ""
			for pages := 0; ; pages++ {
				if pages > 30 {
					t.Fatal("too many pages")
				}
				path := "/v1/tasks?" + q
				if cont != "" {
					path += "&continue=" + url.QueryEscape(cont)
				}
				resp, data := env.request(t, http.MethodGet, path, "")
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %d %s", path, resp.StatusCode, data)
				}
				list := decodeAs[v1.TaskList](t, data)
				if list.Kind != v1.KindTaskList || list.APIVersion != v1.APIVersion || list.ResourceVersion != last.ResourceVersion {
					t.Errorf("page: %s %s at %q, want TaskList at %s", list.APIVersion, list.Kind, list.ResourceVersion, last.ResourceVersion)
				}
				for _, it := range list.Items {
					if it.Kind != v1.KindTask {
						t.Errorf("item kind %q", it.Kind)
					}
					names = append(names, it.Name)
				}
				if cont = list.Continue; cont == "" {
					break
				}
			}
			want := 25
			if strings.Contains(q, "n%3D1") {
				want = 8
			}
			seen := map[string]bool{}
			for _, n := range names {
				if seen[n] {
					t.Errorf("%s twice", n)
				}
				seen[n] = true
			}
			if len(seen) != want {
				t.Errorf("%d tasks, want %d", len(seen), want)
			}
		})
	}
}

func TestListTasks_EmptyStore_ItemsArray(t *testing.T) {
	env := newTestEnv(t)
	resp, data := env.request(t, http.MethodGet, "/v1/tasks", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(data), `"items":[]`) {
		t.Fatalf("code %d body %s, want 200 with an empty items array", resp.StatusCode, data)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
}

func TestListTasks_BadPaging_BadRequest(t *testing.T) {
	env := newTestEnv(t)
	env.put(t, "a", taskJSON("nginx", nil), http.StatusCreated)
	for _, q := range []string{"limit=-1", "limit=x", "continue=not-a-token", "continue=" + url.QueryEscape("eyJ2IjoxfQ")} {
		resp, data := env.request(t, http.MethodGet, "/v1/tasks?"+q, "")
		wantStatus(t, resp, data, http.StatusBadRequest, metav1.StatusReasonBadRequest)
	}
}

func TestListTasks_ExpiredContinue_Gone(t *testing.T) {
	env := newTestEnv(t, func(s *envSetup) { s.store = store.Options{WatchWindow: 3} })
	for i := range 5 {
		env.put(t, fmt.Sprintf("t-%d", i), taskJSON("nginx", nil), http.StatusCreated)
	}
	resp, data := env.request(t, http.MethodGet, "/v1/tasks?limit=2", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
	cont := decodeAs[v1.TaskList](t, data).Continue
	for i := range 4 {
		env.put(t, fmt.Sprintf("u-%d", i), taskJSON("nginx", nil), http.StatusCreated)
	}
	resp, data = env.request(t, http.MethodGet, "/v1/tasks?limit=2&continue="+url.QueryEscape(cont), "")
	wantStatus(t, resp, data, http.StatusGone, metav1.StatusReasonExpired)
}
