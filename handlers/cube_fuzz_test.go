package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cubelet/cubelet/apis/cube"
	"github.com/cubelet/cubelet/store"
)

// FuzzDecodeTaskEvent posts arbitrary bodies to POST /tasks through the
// whole router, on a real store shared by the inputs (so later inputs
// also meet tasks that earlier ones created). It must never panic nor
// answer 5xx: a 201 carries a Cube Task, anything else is a 4xx in Cube's
// error shape with the same code inside.
func FuzzDecodeTaskEvent(f *testing.F) {
	f.Add([]byte(managerEventJSON("6be4ad4e-1c3a-4a5b-8e1f-2f0c9f3c1a10", cubeTaskID, 1))) // more in testdata/fuzz/FuzzDecodeTaskEvent
	st, err := store.OpenDir(f.TempDir(), store.Options{})
	if err != nil {
		f.Fatalf("open store: %v", err)
	}
	f.Cleanup(func() { _ = st.Close() })
	router := NewRouter(Config{Store: st})

	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		// As Cube's manager sends it, so the input reaches the decoder
		// rather than the guard's Host and Content-Type refusals.
		req := httptest.NewRequest(http.MethodPost, "http://localhost/tasks", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		router.ServeHTTP(rec, req)
		code, data := rec.Code, rec.Body.Bytes()
		if code >= 500 {
			t.Fatalf("code %d for a client's body %q: %s", code, body, data)
		}
		if code == http.StatusCreated {
			var task cube.Task
			if err := json.Unmarshal(data, &task); err != nil {
				t.Fatalf("201 body is not a Task: %v: %s", err, data)
			}
			return
		}
		var e cubeErrResponse
		if err := json.Unmarshal(data, &e); err != nil || e.HTTPStatusCode != code || e.Message == "" || code < 400 {
			t.Fatalf("code %d with body %s; want a 4xx in Cube's error shape", code, data)
		}
	})
}
