package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// helperDirEnv tells the test binary it runs as the writer child of
// TestCreate_AcknowledgedWritesSurviveKill9, in that directory.
const helperDirEnv = "CUBELET_STORE_HELPER_DIR"

// TestHelperProcess_CreateUntilKilled is not a test: it is the child of
// the kill -9 test. It creates tasks from several goroutines forever and
// prints "ACK <name>" once each Create has returned.
func TestHelperProcess_CreateUntilKilled(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		t.Skip("helper process for the kill -9 test")
	}
	b, err := OpenDir(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				name := fmt.Sprintf("g%d-%06d", g, i)
				if _, err := b.Create(context.Background(), newTask(name)); err != nil {
					fmt.Fprintln(os.Stderr, "create:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(out, "ACK %s\n", name)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestCreate_AcknowledgedWritesSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess_CreateUntilKilled$")
	cmd.Env = append(os.Environ(), helperDirEnv+"="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stdout pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	// Whatever happens, do not leave the child running.
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var acked []string
	killed := false
	deadline := time.After(60 * time.Second)
read:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				break read
			}
			if name, ok := strings.CutPrefix(line, "ACK "); ok {
				acked = append(acked, name)
			}
			if !killed && len(acked) >= 50 {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatalf("kill child: %v", err)
				}
				killed = true
			}
		case <-deadline:
			t.Fatalf("child too slow: %d acknowledged; stderr: %s", len(acked), stderr.String())
		}
	}
	// Lines read after the kill were written, so acknowledged, before it.
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child exited after %d acknowledgements: %v; stderr: %s", len(acked), err, stderr.String())
	}

	b, err := OpenDir(dir, Options{})
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer b.Close()
	list, err := b.List(context.Background(), nil)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	have := make(map[string]bool, len(list.Items))
	for _, it := range list.Items {
		have[it.Name] = true
	}
	for _, name := range acked {
		if !have[name] {
			t.Errorf("acknowledged task %s lost after kill -9", name)
		}
	}
	if got := b.CurrentRevision(); got != int64(len(list.Items)) {
		t.Errorf("revision %d after reopen, want %d (one per stored create)", got, len(list.Items))
	}
	t.Logf("%d acknowledged, %d stored", len(acked), len(list.Items))
}
