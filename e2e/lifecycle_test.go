package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/controller"
)

func args(a ...string) func(*v1.Task) { return func(t *v1.Task) { t.Spec.Args = a } }

func restartPolicy(p v1.RestartPolicy) func(*v1.Task) {
	return func(t *v1.Task) { t.Spec.RestartPolicy = p }
}

func TestE2E_CrashLoopUnderAlways_BacksOffWithGrowingDelays(t *testing.T) {
	e := newEnv(t)
	c := e.start("--backoff-base", "1s", "--backoff-max", "1m")
	c.put(e.task("crashy", args("--exit-after", "1s", "--exit-code", "3")))

	// Record the back-off announced for each crash: nextRetryTime minus
	// finishTime, as status reports them.
	delays := map[int32]time.Duration{}
	sawCrashLoop := 0
	eventually(t, 90*time.Second, "three restarts with back-off", func() (bool, string) {
		task, code := c.get("crashy")
		if code != http.StatusOK {
			return false, fmt.Sprint(code)
		}
		s := task.Status
		if s.State.Terminal() {
			t.Fatalf("state %s under restartPolicy Always", s.State)
		}
		if s.Reason == controller.ReasonCrashLoopBackOff && s.NextRetryTime != nil && s.FinishTime != nil {
			sawCrashLoop++
			delays[s.RestartCount] = s.NextRetryTime.Sub(s.FinishTime.Time)
			if s.ExitCode == nil || *s.ExitCode != 3 {
				t.Errorf("exitCode = %v during CrashLoopBackOff, want 3", s.ExitCode)
			}
		}
		return s.RestartCount >= 3 && len(delays) >= 3, fmt.Sprintf("restartCount %d reason %s delays %v", s.RestartCount, s.Reason, delays)
	})
	if sawCrashLoop == 0 {
		t.Fatal("never observed reason CrashLoopBackOff between tries")
	}
	d0, d1, d2 := delays[0], delays[1], delays[2]
	t.Logf("announced back-off delays: %s, %s, %s", d0, d1, d2)
	// Timestamps have one-second resolution; with base 1s the delays are
	// about 1s, 2s and 4s.
	if !(d0 <= d1 && d1 <= d2 && d0 < d2) {
		t.Fatalf("back-off did not grow: %s, %s, %s", d0, d1, d2)
	}
	if d2 < 3*time.Second {
		t.Fatalf("third back-off %s, want about 4s", d2)
	}
}

func TestE2E_RestartPolicies_EndRunsAsTheSeedSays(t *testing.T) {
	e := newEnv(t)
	c := e.start()
	c.put(e.task("onfailure-ok", restartPolicy(v1.RestartOnFailure), args("--exit-after", "500ms", "--exit-code", "0")))
	c.put(e.task("never-fails", restartPolicy(v1.RestartNever), args("--exit-after", "500ms", "--exit-code", "3")))

	ok := c.waitFor("onfailure-ok", "Completed", 60*time.Second, func(t *v1.Task) bool { return t.Status.State == v1.Completed })
	if ok.Status.ExitCode == nil || *ok.Status.ExitCode != 0 || ok.Status.FinishTime == nil || ok.Status.RestartCount != 0 {
		t.Errorf("OnFailure exit 0: status %+v", ok.Status)
	}
	failed := c.waitFor("never-fails", "Failed", 60*time.Second, func(t *v1.Task) bool { return t.Status.State == v1.Failed })
	if failed.Status.ExitCode == nil || *failed.Status.ExitCode != 3 || failed.Status.FinishTime == nil {
		t.Errorf("Never exit 3: status %+v", failed.Status)
	}
	if !hasTransition(failed, v1.Running, v1.Failed) && !hasTransition(failed, v1.Scheduled, v1.Failed) {
		t.Errorf("transitions %+v lack the move to Failed", failed.Status.Transitions)
	}
}

func TestE2E_MissingImage_ImagePullBackOff_ThenRecoversWhenBuilt(t *testing.T) {
	e := newEnv(t)
	image := fmt.Sprintf("cubelet-e2e-missing:%d", time.Now().UnixNano())
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", image).Run() })
	c := e.start()
	c.put(e.task("pull", func(t *v1.Task) { t.Spec.Image = image }))

	task := c.waitFor("pull", "ImagePullBackOff", 120*time.Second, func(t *v1.Task) bool {
		return t.Status.Reason == controller.ReasonImagePullBackOff
	})
	if task.Status.Message == "" || !strings.Contains(task.Status.Message, "cubelet-e2e-missing") {
		t.Errorf("message %q does not carry the daemon's error", task.Status.Message)
	}
	if out, err := exec.Command("docker", "tag", e.image, image).CombinedOutput(); err != nil {
		t.Fatalf("docker tag: %v: %s", err, out)
	}
	c.waitFor("pull", "Running after the image appeared", 3*time.Minute, func(t *v1.Task) bool {
		return t.Status.State == v1.Running && t.Status.Reason == "" && t.Status.ContainerID != ""
	})
}

func TestE2E_IgnoresSIGTERM_KilledAfterGracePeriod(t *testing.T) {
	e := newEnv(t)
	c := e.start()
	grace := int64(2)
	stubborn := func(t *v1.Task) {
		t.Spec.Args = []string{"--listen", ":8080", "--ignore-sigterm"}
		t.Spec.StopGracePeriodSeconds = &grace
	}
	c.put(e.task("stubborn", stubborn))
	running := c.waitRunning("stubborn")
	waitForOutput(t, c, "stubborn", "started")

	stopped := time.Now()
	c.put(e.task("stubborn", stubborn, func(t *v1.Task) { t.Spec.DesiredState = v1.Completed }))
	eventually(t, 30*time.Second, "container stopped", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ct, err := e.docker.InspectContainer(ctx, running.Status.ContainerID)
		return err == nil && !ct.Running(), fmt.Sprint(ct.State, err)
	})
	took := time.Since(stopped)
	t.Logf("stopped %s after the request (grace 2s)", took.Round(time.Millisecond))
	if took < 2*time.Second {
		t.Fatalf("stopped after %s: SIGTERM was not ignored, or the grace period was skipped", took)
	}
	if took > 6*time.Second {
		t.Fatalf("stopped after %s, want about 2s", took)
	}
	// The status says Completed as soon as the stop returns; the exit code
	// follows with the container's die event.
	done := c.waitFor("stubborn", "Completed with an exit code", 30*time.Second, func(t *v1.Task) bool {
		return t.Status.State == v1.Completed && t.Status.ExitCode != nil
	})
	if *done.Status.ExitCode != 137 {
		t.Errorf("exitCode = %d, want 137 (SIGKILL)", *done.Status.ExitCode)
	}
}

func TestE2E_HostPortZero_PublishesAFreePortThatAnswers(t *testing.T) {
	e := newEnv(t)
	c := e.start()
	c.put(e.task("web", func(t *v1.Task) {
		t.Spec.Ports = []v1.PortMapping{{ContainerPort: 8080, HostIP: "127.0.0.1"}}
		t.Spec.Env = []v1.EnvVar{{Name: "GREETING", Value: "hi"}}
	}))
	task := c.waitRunning("web")
	if len(task.Status.HostPorts) == 0 || task.Status.HostPorts[0].HostPort == 0 {
		t.Fatalf("status.hostPorts = %+v, want a published port", task.Status.HostPorts)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", task.Status.HostPorts[0].HostPort)
	var body string
	eventually(t, 30*time.Second, "workload answers on "+url, func() (bool, string) {
		resp, err := http.Get(url)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK, body
	})
	if !strings.Contains(body, "hello") {
		t.Fatalf("body %q", body)
	}
}

func TestE2E_MemoryLimitExceeded_ReportsOOMKilled(t *testing.T) {
	e := newEnv(t)
	c := e.start()
	mem := resource.MustParse("16Mi")
	c.put(e.task("hog", restartPolicy(v1.RestartNever), args("--alloc-mib", "64"), func(t *v1.Task) {
		t.Spec.Resources.Memory = &mem
	}))
	// Docker may record the OOM kill a moment after the exit: the reason
	// follows it.
	task := c.waitFor("hog", "Failed with OOMKilled", 60*time.Second, func(t *v1.Task) bool {
		return t.Status.State == v1.Failed && t.Status.Reason == controller.ReasonOOMKilled
	})
	if task.Status.ExitCode == nil || *task.Status.ExitCode != 137 {
		t.Fatalf("exitCode = %v, want 137", task.Status.ExitCode)
	}
}

func TestE2E_LabelChange_DoesNotReplaceContainer(t *testing.T) {
	e := newEnv(t)
	c := e.start()
	c.put(e.task("web"))
	before := c.waitRunning("web")
	relabelled, _ := c.put(e.task("web", func(t *v1.Task) { t.Labels = map[string]string{"tier": "front"} }))
	if relabelled.Generation != before.Generation {
		t.Fatalf("label change bumped generation %d -> %d", before.Generation, relabelled.Generation)
	}
	var list v1.TaskList
	if code := c.do(http.MethodGet, "/v1/tasks?labelSelector=tier%3Dfront", nil, &list); code != http.StatusOK || len(list.Items) != 1 {
		t.Fatalf("labelSelector list: %d, %d items", code, len(list.Items))
	}
	after := c.waitRunning("web")
	if after.Status.ContainerID != before.Status.ContainerID {
		t.Fatalf("label change replaced the container")
	}
}

// waitForOutput polls the task's logs until they contain want.
func waitForOutput(t *testing.T, c *cubelet, task, want string) {
	t.Helper()
	eventually(t, 30*time.Second, task+" logs "+want, func() (bool, string) {
		resp, err := http.Get(c.base + "/v1/tasks/" + task + "/logs")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), want), string(b)
	})
}

func hasTransition(t *v1.Task, from, to v1.State) bool {
	for _, tr := range t.Status.Transitions {
		if tr.From == from && tr.To == to {
			return true
		}
	}
	return false
}
