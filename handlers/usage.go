package handlers

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/cubelet/cubelet/usage"
)

// UsageSource is what the usage endpoints read: the sampler's in-memory
// cache of recent readings (usage.Sampler).
type UsageSource interface {
	Get(name string) (usage.TaskUsage, bool)
	List(withSamples bool) usage.TaskUsageList
	Empty(name string) usage.TaskUsage
}

// registerUsage adds GET /v1/tasks/{name}/usage and GET /v1/usage. Without
// a source (tests, a server that samples nothing) the routes are left out
// and answer 404 like any unknown path.
func registerUsage(r *mux.Router, cfg Config) {
	if cfg.Usage == nil {
		return
	}
	u := &usageAPI{taskAPI: taskAPI{store: cfg.Store, log: cfg.Logger}, src: cfg.Usage}
	r.HandleFunc("/v1/tasks/{name}/usage", u.get).Methods(http.MethodGet)
	r.HandleFunc("/v1/usage", u.list).Methods(http.MethodGet)
}

type usageAPI struct {
	taskAPI
	src UsageSource
}

// get answers with the task's latest reading and its ring; a task that
// exists but has none (not running, or not read yet) gets an empty ring
// with its limits, and a task that does not exist a 404, as /logs does.
func (u *usageAPI) get(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	t, err := u.store.Get(r.Context(), name)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	tu, ok := u.src.Get(name)
	if !ok {
		tu = u.src.Empty(name)
		tu.Limits = usage.LimitsOf(t)
	}
	writeJSON(w, http.StatusOK, tu)
}

// list answers with every task that has readings; ?samples=true adds each
// ring (the dashboard's sparklines), otherwise only the latest reading
// (cubelet top), which keeps the body small with many tasks.
func (u *usageAPI) list(w http.ResponseWriter, r *http.Request) {
	withSamples, err := boolParam(r, "samples")
	if err != nil {
		u.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u.src.List(withSamples))
}
