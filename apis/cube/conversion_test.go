package cube

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// managerEvent is a TaskEvent exactly as Cube's manager marshals it for a
// task file that sets only a name and an image: every field present, zero
// values included.
const managerEvent = `{
  "ID": "6be4ad4e-1c3a-4a5b-8e1f-2f0c9f3c1a10",
  "State": 1,
  "Timestamp": "0001-01-01T00:00:00Z",
  "Task": {
    "ID": "21b23589-5d2d-4731-b5c9-a97e9832d021",
    "ContainerID": "",
    "Name": "test-chapter-5",
    "State": 1,
    "Image": "strm/helloworld-http",
    "Cpu": 0,
    "Memory": 0,
    "Disk": 0,
    "ExposedPorts": null,
    "PortBindings": null,
    "RestartPolicy": "",
    "StartTime": "0001-01-01T00:00:00Z",
    "FinishTime": "0001-01-01T00:00:00Z",
    "HostPorts": null,
    "HealthCheck": "",
    "RestartCount": 0
  }
}`

func decodeEvent(t *testing.T, body string) TaskEvent {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	var te TaskEvent
	if err := dec.Decode(&te); err != nil {
		t.Fatalf("decoding the manager's JSON: %v", err)
	}
	return te
}

func TestToV1_ManagerZeroValues_GiveAValidTaskWithNoLimits(t *testing.T) {
	te := decodeEvent(t, managerEvent)
	got, err := ToV1(te.Task, nil)
	if err != nil {
		t.Fatalf("ToV1: %v", err)
	}
	id := "21b23589-5d2d-4731-b5c9-a97e9832d021"
	if got.Name != id || string(got.UID) != id {
		t.Errorf("name, uid = %q, %q; want both %q", got.Name, got.UID, id)
	}
	s := got.Spec
	if s.Image != "strm/helloworld-http" || s.Ports != nil || s.Resources.CPU != nil || s.Resources.Memory != nil {
		t.Errorf("spec = %+v; want the image alone", s)
	}
	if s.RestartPolicy != v1.RestartNever || s.DesiredState != v1.Running {
		t.Errorf("restartPolicy, desiredState = %s, %s; want Never, Running", s.RestartPolicy, s.DesiredState)
	}
	want := map[string]string{AnnotationName: "test-chapter-5"}
	if !reflect.DeepEqual(got.Annotations, want) {
		t.Errorf("annotations = %v; want %v", got.Annotations, want)
	}
	v1.SetDefaults(got)
	if errs := v1.ValidateTask(got); len(errs) > 0 {
		t.Errorf("ValidateTask: %v", errs.ToAggregate())
	}
}

func TestToV1_FullTask_MapsEveryField(t *testing.T) {
	in := Task{
		ID:            uuid.MustParse("21b23589-5d2d-4731-b5c9-a97e9832d021"),
		Name:          "web",
		State:         Scheduled,
		Image:         "nginx:1.27",
		Cpu:           0.5,
		Memory:        64 << 20,
		Disk:          1 << 30,
		ExposedPorts:  PortSet{"80/tcp": {}, "53/udp": {}, "9000": {}},
		PortBindings:  map[string]string{"80/tcp": "8080", "9000/tcp": ""},
		RestartPolicy: "unless-stopped",
		HealthCheck:   "/health",
	}
	got, err := ToV1(in, nil)
	if err != nil {
		t.Fatalf("ToV1: %v", err)
	}
	s := got.Spec
	if s.Resources.CPU.String() != "500m" || s.Resources.Memory.String() != "64Mi" {
		t.Errorf("resources = %s, %s; want 500m, 64Mi", s.Resources.CPU, s.Resources.Memory)
	}
	wantPorts := []v1.PortMapping{
		{ContainerPort: 53, Protocol: v1.ProtocolUDP},
		{ContainerPort: 80, HostPort: 8080, Protocol: v1.ProtocolTCP},
		{ContainerPort: 9000, Protocol: v1.ProtocolTCP},
	}
	if !reflect.DeepEqual(s.Ports, wantPorts) {
		t.Errorf("ports = %+v; want %+v", s.Ports, wantPorts)
	}
	if s.RestartPolicy != v1.RestartAlways {
		t.Errorf("restartPolicy = %s; want Always", s.RestartPolicy)
	}
	wantAnn := map[string]string{
		AnnotationName:          "web",
		AnnotationDisk:          "1073741824",
		AnnotationHealthCheck:   "/health",
		AnnotationRestartPolicy: "unless-stopped",
	}
	if !reflect.DeepEqual(got.Annotations, wantAnn) {
		t.Errorf("annotations = %v; want %v", got.Annotations, wantAnn)
	}
	v1.SetDefaults(got)
	if errs := v1.ValidateTask(got); len(errs) > 0 {
		t.Errorf("ValidateTask: %v", errs.ToAggregate())
	}
}

func TestToV1_RestartPolicies(t *testing.T) {
	for in, want := range map[string]v1.RestartPolicy{
		"":               v1.RestartNever,
		"no":             v1.RestartNever,
		"always":         v1.RestartAlways,
		"unless-stopped": v1.RestartAlways,
		"on-failure":     v1.RestartOnFailure,
	} {
		got, err := ToV1(Task{ID: uuid.New(), State: Scheduled, RestartPolicy: in}, nil)
		if err != nil {
			t.Errorf("RestartPolicy %q: %v", in, err)
			continue
		}
		if got.Spec.RestartPolicy != want {
			t.Errorf("RestartPolicy %q = %s; want %s", in, got.Spec.RestartPolicy, want)
		}
		if back := FromV1(got).RestartPolicy; back != in {
			t.Errorf("RestartPolicy %q reads back as %q", in, back)
		}
	}
}

func TestToV1_DesiredStateFollowsTaskState(t *testing.T) {
	for _, tc := range []struct {
		state   State
		want    v1.State
		wantErr bool
	}{
		{Pending, v1.Running, false},
		{Scheduled, v1.Running, false},
		{Completed, v1.Completed, false},
		{Running, "", true},
		{Failed, "", true},
		{State(5), "", true},
		{State(-1), "", true},
	} {
		got, err := ToV1(Task{ID: uuid.New(), State: tc.state, Image: "x"}, nil)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v; want error %v", tc.state, err, tc.wantErr)
			continue
		}
		if err == nil && got.Spec.DesiredState != tc.want {
			t.Errorf("%s: desiredState = %s; want %s", tc.state, got.Spec.DesiredState, tc.want)
		}
	}
}

func TestToV1_RefusesWhatV1CannotHold(t *testing.T) {
	for name, task := range map[string]Task{
		"nil ID":            {State: Scheduled},
		"port range":        {ExposedPorts: PortSet{"8000-8010/tcp": {}}},
		"port zero":         {ExposedPorts: PortSet{"0/tcp": {}}},
		"sctp":              {ExposedPorts: PortSet{"80/sctp": {}}},
		"binding not a num": {PortBindings: map[string]string{"80/tcp": "http"}},
		"bad binding key":   {PortBindings: map[string]string{"eighty": "80"}},
		"restart policy":    {RestartPolicy: "sometimes"},
		"cpu too small":     {Cpu: 0.0001},
		"cpu too large":     {Cpu: 1e300},
	} {
		if name != "nil ID" {
			task.ID = uuid.New()
			task.State = Scheduled
		}
		if _, err := ToV1(task, nil); err == nil {
			t.Errorf("%s: ToV1 accepted %+v", name, task)
		}
	}
}

func TestToV1_Existing_KeepsWhatCubeDoesNotOwn(t *testing.T) {
	grace := int64(3)
	existing := &v1.Task{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", UID: "21b23589-5d2d-4731-b5c9-a97e9832d021", ResourceVersion: "7",
			Labels:      map[string]string{"app": "web"},
			Annotations: map[string]string{"note": "mine", AnnotationDisk: "5"},
		},
		Spec: v1.TaskSpec{
			Image: "old", Args: []string{"-v"}, Env: []v1.EnvVar{{Name: "A", Value: "1"}},
			StopGracePeriodSeconds: &grace, RestartGeneration: 2,
		},
		Status: v1.TaskStatus{State: v1.Running, ContainerID: "abc"},
	}
	got, err := ToV1(Task{ID: uuid.MustParse(string(existing.UID)), State: Scheduled, Image: "new"}, existing)
	if err != nil {
		t.Fatalf("ToV1: %v", err)
	}
	if got.Name != "web" || got.ResourceVersion != "7" || got.Labels["app"] != "web" {
		t.Errorf("metadata not kept: %+v", got.ObjectMeta)
	}
	if got.Spec.Image != "new" || got.Spec.Args[0] != "-v" || got.Spec.Env[0].Name != "A" ||
		*got.Spec.StopGracePeriodSeconds != 3 || got.Spec.RestartGeneration != 2 {
		t.Errorf("spec = %+v; want the new image and the old rest", got.Spec)
	}
	if want := map[string]string{"note": "mine"}; !reflect.DeepEqual(got.Annotations, want) {
		t.Errorf("annotations = %v; want %v (Disk 0 clears its annotation)", got.Annotations, want)
	}
	if got.Status.ContainerID != "abc" || existing.Spec.Image != "old" {
		t.Error("ToV1 must copy existing, not change it, and keep its status")
	}
}

func TestFromV1_ReportsStatus(t *testing.T) {
	start := metav1.NewTime(time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
	finish := metav1.NewTime(time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC))
	cpu, mem := resource.MustParse("1500m"), resource.MustParse("128Mi")
	task := &v1.Task{
		ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "21b23589-5d2d-4731-b5c9-a97e9832d021"},
		Spec: v1.TaskSpec{
			Image:         "nginx",
			Ports:         []v1.PortMapping{{ContainerPort: 80, Protocol: v1.ProtocolTCP, HostPort: 8080, HostIP: "127.0.0.1"}},
			Resources:     v1.Resources{CPU: &cpu, Memory: &mem},
			RestartPolicy: v1.RestartOnFailure,
		},
		Status: v1.TaskStatus{
			State: v1.Completed, ContainerID: "c0ffee", RestartCount: 2,
			StartTime: &start, FinishTime: &finish,
			HostPorts: []v1.HostPort{
				{ContainerPort: 80, Protocol: v1.ProtocolTCP, HostIP: "0.0.0.0", HostPort: 8080},
				{ContainerPort: 80, Protocol: v1.ProtocolTCP, HostIP: "::", HostPort: 8080},
			},
		},
	}
	want := Task{
		ID:            uuid.MustParse("21b23589-5d2d-4731-b5c9-a97e9832d021"),
		ContainerID:   "c0ffee",
		Name:          "web",
		State:         Completed,
		Image:         "nginx",
		Cpu:           1.5,
		Memory:        128 << 20,
		ExposedPorts:  PortSet{"80/tcp": {}},
		PortBindings:  map[string]string{"80/tcp": "127.0.0.1:8080"},
		RestartPolicy: "on-failure",
		StartTime:     start.Time,
		FinishTime:    finish.Time,
		HostPorts:     PortMap{"80/tcp": {{HostIP: "0.0.0.0", HostPort: "8080"}, {HostIP: "::", HostPort: "8080"}}},
		RestartCount:  2,
	}
	if got := FromV1(task); !reflect.DeepEqual(got, want) {
		t.Errorf("FromV1 =\n%+v\nwant\n%+v", got, want)
	}
}

func TestFromV1_FreshTask_MarshalsAsTheManagerExpects(t *testing.T) {
	task := &v1.Task{
		ObjectMeta: metav1.ObjectMeta{Name: "21b23589-5d2d-4731-b5c9-a97e9832d021", UID: "21b23589-5d2d-4731-b5c9-a97e9832d021"},
		Spec:       v1.TaskSpec{Image: "strm/helloworld-http", RestartPolicy: v1.RestartNever},
	}
	data, err := json.Marshal(FromV1(task))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ID":"21b23589-5d2d-4731-b5c9-a97e9832d021","ContainerID":"","Name":"21b23589-5d2d-4731-b5c9-a97e9832d021",` +
		`"State":0,"Image":"strm/helloworld-http","Cpu":0,"Memory":0,"Disk":0,"ExposedPorts":null,"PortBindings":null,` +
		`"RestartPolicy":"","StartTime":"0001-01-01T00:00:00Z","FinishTime":"0001-01-01T00:00:00Z","HostPorts":null,` +
		`"HealthCheck":"","RestartCount":0}`
	if string(data) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", data, want)
	}
}

func TestRoundTrip_CubeTaskReadsBackAsSent(t *testing.T) {
	te := decodeEvent(t, managerEvent)
	in := te.Task
	in.Cpu, in.Memory, in.Disk = 0.25, 32<<20, 10<<30
	in.ExposedPorts = PortSet{"7777/tcp": {}}
	in.PortBindings = map[string]string{"7777/tcp": "7777"}
	in.RestartPolicy, in.HealthCheck = "always", "/health"
	stored, err := ToV1(in, nil)
	if err != nil {
		t.Fatalf("ToV1: %v", err)
	}
	v1.SetDefaults(stored)
	got := FromV1(stored)
	want := in
	want.State = Pending // the state is the worker's report, not the request
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip =\n%+v\nwant\n%+v", got, want)
	}
}

func TestStateFromV1(t *testing.T) {
	for i, s := range v1.States {
		got, err := StateFromV1(s)
		if err != nil || got != State(i) || got.V1() != s || got.String() != string(s) {
			t.Errorf("StateFromV1(%s) = %d, %v", s, got, err)
		}
	}
	if got, err := StateFromV1(""); err != nil || got != Pending {
		t.Errorf(`StateFromV1("") = %d, %v; want Pending`, got, err)
	}
	if _, err := StateFromV1("Sleeping"); err == nil {
		t.Error("StateFromV1 accepted an unknown state")
	}
}

func TestPortBinding_MarshalsWithDockersKeys(t *testing.T) {
	data, err := json.Marshal(PortMap{"80/tcp": {{HostIP: "0.0.0.0", HostPort: "32768"}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"32768"}]}`; string(data) != want {
		t.Errorf("JSON = %s; want %s", data, want)
	}
}
