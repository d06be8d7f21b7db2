package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// fakeCluster serves the node routes and just enough of the task list
// and watch for cordon, uncordon, drain and get nodes: a drain answers
// d (and cordons), a watch streams script as MODIFIED events then stays
// open until the client leaves.
type fakeCluster struct {
	t      *testing.T
	mu     sync.Mutex
	nodes  map[string]*v1.Node
	tasks  map[string]*v1.Task
	d      v1.NodeDrain
	script []v1.Task
	posts  []string
}

func newFakeCluster(t *testing.T, nodes ...string) (*fakeCluster, string) {
	t.Helper()
	f := &fakeCluster{t: t, nodes: map[string]*v1.Node{}, tasks: map[string]*v1.Task{}}
	for _, n := range nodes {
		f.nodes[n] = &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: n},
			Status: v1.NodeStatus{Conditions: []metav1.Condition{{Type: v1.NodeReady, Status: metav1.ConditionTrue}}}}
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeCluster) task(name, node string, gen, observed int64, state v1.State) v1.Task {
	return v1.Task{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: gen},
		Spec:   v1.TaskSpec{Image: "i", NodeName: node},
		Status: v1.TaskStatus{State: state, ObservedGeneration: observed}}
}

func (f *fakeCluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if r.Method == http.MethodGet && path == "/v1/tasks" && r.URL.Query().Get("watch") == "true" {
		f.watch(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == http.MethodPost {
		f.posts = append(f.posts, path)
		if r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want JSON", http.StatusUnsupportedMediaType)
			return
		}
	}
	rest, isNode := strings.CutPrefix(path, "/v1/nodes/")
	name, action, _ := strings.Cut(rest, "/")
	switch {
	case r.Method == http.MethodGet && path == "/v1/nodes":
		l := &v1.NodeList{}
		for _, n := range f.nodes {
			l.Items = append(l.Items, *n)
		}
		writeFakeJSON(w, http.StatusOK, l)
	case r.Method == http.MethodGet && path == "/v1/tasks":
		l := &v1.TaskList{ListMeta: metav1.ListMeta{ResourceVersion: "10"}}
		for _, t := range f.tasks {
			l.Items = append(l.Items, *t)
		}
		writeFakeJSON(w, http.StatusOK, l)
	case isNode && f.nodes[name] == nil:
		writeFakeStatus(w, apierrors.NewNotFound(v1.NodeResource, name))
	case r.Method == http.MethodGet && action == "":
		writeFakeJSON(w, http.StatusOK, f.nodes[name])
	case r.Method == http.MethodPost && (action == "cordon" || action == "uncordon"):
		f.nodes[name].Spec.Unschedulable = action == "cordon"
		writeFakeJSON(w, http.StatusOK, f.nodes[name])
	case r.Method == http.MethodPost && action == "drain":
		f.nodes[name].Spec.Unschedulable = true
		f.d.Node = *f.nodes[name]
		writeFakeJSON(w, http.StatusOK, &f.d)
	default:
		http.Error(w, "unexpected "+r.Method+" "+path, http.StatusTeapot)
	}
}

func (f *fakeCluster) watch(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	script := f.script
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	for i := range script {
		script[i].ResourceVersion = strconv.Itoa(11 + i)
		obj, _ := json.Marshal(&script[i])
		fmt.Fprintf(w, `{"type":"MODIFIED","object":%s}`+"\n", obj)
	}
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

func TestCordonUncordon(t *testing.T) {
	f, server := newFakeCluster(t, "a")
	for _, step := range []struct{ cmd, want string }{
		{"cordon", "node/a cordoned\n"},
		{"cordon", "node/a already cordoned\n"},
		{"uncordon", "node/a uncordoned\n"},
		{"uncordon", "node/a already uncordoned\n"},
	} {
		out, err := run(t, server, "", step.cmd, "a")
		if err != nil || out != step.want {
			t.Fatalf("%s a: %q %v, want %q", step.cmd, out, err, step.want)
		}
	}
	if got := strings.Join(f.posts, " "); got != "/v1/nodes/a/cordon /v1/nodes/a/uncordon" {
		t.Errorf("posts %s: want one cordon, one uncordon (the others had nothing to change)", got)
	}
	var se *ServerError
	if _, err := run(t, server, "", "cordon", "zz"); !asServerError(err, &se) || !apierrors.IsNotFound(err) {
		t.Errorf("cordon zz: %v, want NotFound from the server", err)
	}

	// get nodes shows a cordoned node as kubectl does.
	if _, err := run(t, server, "", "cordon", "a"); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, server, "", "get", "nodes")
	if err != nil || !strings.Contains(out, "Ready,SchedulingDisabled") {
		t.Errorf("get nodes: %q %v, want Ready,SchedulingDisabled", out, err)
	}
}

// Drain prints a line per moved task once it runs on its new node (a
// task already Running there at the list, another when the watch says
// so), and "drained" when nothing was left.
func TestDrain_WaitsUntilEveryMovedTaskRunsElsewhere(t *testing.T) {
	f, server := newFakeCluster(t, "a", "b")
	api := f.task("api", "b", 2, 2, v1.Running)
	web := f.task("web", "b", 2, 1, v1.Running) // the old run's status, from node a
	f.tasks["api"], f.tasks["web"] = &api, &web
	f.d = v1.NodeDrain{Moved: []v1.DrainedTask{{Name: "api", NodeName: "b", Generation: 2}, {Name: "web", NodeName: "b", Generation: 2}}}
	f.script = []v1.Task{f.task("web", "b", 2, 2, v1.Scheduled), f.task("web", "b", 2, 2, v1.Running)}
	out, err := run(t, server, "", "drain", "a")
	want := "node/a cordoned\ntask/api moved to b\ntask/web moved to b\nnode/a drained\n"
	if err != nil || out != want {
		t.Fatalf("drain: %q %v, want %q", out, err, want)
	}
}

// A Never job left on the node is reported, and the command fails with
// the node still cordoned.
func TestDrain_LeftNeverJobIsAnError(t *testing.T) {
	f, server := newFakeCluster(t, "a", "b")
	f.nodes["a"].Spec.Unschedulable = true
	web := f.task("web", "b", 2, 1, v1.Running)
	f.tasks["web"] = &web
	f.d = v1.NodeDrain{
		Moved: []v1.DrainedTask{{Name: "web", NodeName: "b", Generation: 2}},
		Left:  []v1.DrainedTask{{Name: "job", Reason: v1.DrainLeftNever, Message: "restartPolicy Never: it finishes where it runs"}},
	}
	f.script = []v1.Task{f.task("web", "b", 2, 2, v1.Running)}
	out, err := run(t, server, "", "drain", "a")
	if out != "node/a already cordoned\ntask/web moved to b\n" {
		t.Errorf("stdout %q", out)
	}
	if err == nil || !strings.Contains(err.Error(), "1 task left on the node, which stays cordoned") ||
		!strings.Contains(err.Error(), "task/job stays on node/a (RestartPolicyNever): restartPolicy Never") {
		t.Errorf("err %v, want the job named on stderr and 1 task left", err)
	}
}

func TestDrain_TimeoutNamesTheTasksNotRunning(t *testing.T) {
	f, server := newFakeCluster(t, "a", "b")
	web := f.task("web", "b", 2, 1, v1.Running)
	f.tasks["web"] = &web
	f.d = v1.NodeDrain{Moved: []v1.DrainedTask{{Name: "web", NodeName: "b", Generation: 2}}}
	f.script = []v1.Task{f.task("web", "b", 2, 2, v1.Scheduled)}
	out, err := run(t, server, "", "drain", "a", "--timeout", "300ms")
	if out != "node/a cordoned\n" || err == nil || !strings.Contains(err.Error(), "after --timeout 300ms: task/web on b (Scheduled)") {
		t.Errorf("drain: %q %v, want a timeout naming task/web on b (Scheduled)", out, err)
	}
}
