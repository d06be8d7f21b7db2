package store

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// lockHelperEnv tells the test binary it runs as the holder child of
// TestOpen_HeldByAnotherProcess_RefusedAtOnceNamingPID, in that directory.
const lockHelperEnv = "CUBELET_STORE_LOCK_HELPER_DIR"

// TestHelperProcess_HoldStore is not a test: it opens the store, says so
// and holds it until its stdin closes.
func TestHelperProcess_HoldStore(t *testing.T) {
	dir := os.Getenv(lockHelperEnv)
	if dir == "" {
		t.Skip("helper process for the lock test")
	}
	b, err := OpenDir(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	fmt.Println("HOLDING")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	if err := b.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func TestOpen_HeldByAnotherProcess_RefusedAtOnceNamingPID(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess_HoldStore$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "HOLDING" {
		t.Fatalf("child did not open the store: %q %v; stderr: %s", line, err, stderr.String())
	}

	// A lock timeout far longer than the test allows: the refusal must not
	// come from bbolt giving up on its own lock.
	start := time.Now()
	_, err = OpenDir(dir, Options{LockTimeout: time.Minute})
	elapsed := time.Since(start)
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while another process holds the store: %v, want a LockedError", err)
	}
	if le.PID != cmd.Process.Pid {
		t.Errorf("holder pid %d, want the child's %d", le.PID, cmd.Process.Pid)
	}
	want := fmt.Sprintf("is locked by another cubelet (pid %d)", cmd.Process.Pid)
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q, want it to name %s and say %q", err, dir, want)
	}
	if elapsed > 500*time.Millisecond {
		t.Errorf("refused after %s, want at once", elapsed)
	}
	t.Logf("refused after %s", elapsed)

	// Once the holder closes, the store opens.
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v; stderr: %s", err, stderr.String())
	}
	b, err := OpenDir(dir, Options{})
	if err != nil {
		t.Fatalf("Open after the holder closed: %v", err)
	}
	b.Close()
}
