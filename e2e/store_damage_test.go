package e2e

import (
	"bytes"
	"context"
	byteorder "encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/cubelet/cubelet/apis/v1"
	"github.com/cubelet/cubelet/store"
)

// These tests damage a store file as issue 11 did and run the built
// cubelet on it. They need no Docker: cubelet must refuse the store before
// it reaches Docker. In case it did not, it is pointed at a Docker socket
// that does not exist, so a failing test cannot start containers on the
// host.

const damagePageSize = 4096

// storeFixture writes 73 tasks with 2 KB environments into dir's store.
func storeFixture(t *testing.T, dir string) string {
	t.Helper()
	st, err := store.OpenDir(dir, store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	for i := range 73 {
		task := &v1.Task{Spec: v1.TaskSpec{
			Image: fmt.Sprintf("registry.example/image-%03d:1", i),
			Env:   []v1.EnvVar{{Name: "PAYLOAD", Value: strings.Repeat(fmt.Sprintf("%03d", i), 700)}},
		}}
		task.Name = fmt.Sprintf("task-%03d", i)
		if _, err := st.Create(context.Background(), task); err != nil {
			t.Fatalf("create: %v", err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, store.FileName)
}

func rewrite(t *testing.T, path string, damage func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, damage(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// runServeToExit runs cubelet serve on dir and returns its exit code and
// output, failing the test if it is still running after a deadline (it
// should not get past opening the store).
func runServeToExit(t *testing.T, dir string) (int, string) {
	t.Helper()
	sockDir, err := os.MkdirTemp("", "cubelet-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "serve", "--data-dir", dir,
		"--socket", filepath.Join(sockDir, "cubelet.sock"),
		"--docker-host", "unix://"+filepath.Join(sockDir, "no-docker.sock"))
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("cubelet serve still running after 30s on a damaged store; output:\n%s", tail(out.String(), 40))
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("cubelet serve: %v, want a non-zero exit; output:\n%s", err, tail(out.String(), 40))
	}
	return exit.ExitCode(), out.String()
}

func wantRefused(t *testing.T, code int, out string, want ...string) {
	t.Helper()
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, s := range want {
		if !strings.Contains(out, s) {
			t.Errorf("output does not mention %q", s)
		}
	}
	for _, s := range []string{"panic", "fatal error", "goroutine ", "SIGSEGV", "SIGBUS"} {
		if strings.Contains(out, s) {
			t.Errorf("output contains %q", s)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", tail(out, 40))
	}
}

func TestServe_DamagedStore_ExitsWithMessage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, data []byte) []byte
	}{
		{"one record's byte flipped", func(t *testing.T, data []byte) []byte {
			// Every copy of it (freed pages keep stale ones); JSON stays
			// valid, so only the checksum can tell.
			return bytes.ReplaceAll(data, []byte("registry.example/image-037"), []byte("Registry.example/image-037"))
		}},
		{"200 random byte flips in data pages", func(t *testing.T, data []byte) []byte {
			rng := rand.New(rand.NewPCG(11, 200))
			for range 200 {
				data[2*damagePageSize+rng.IntN(len(data)-2*damagePageSize)] ^= byte(1 + rng.IntN(255))
			}
			return data
		}},
		{"truncated to 16 KiB", func(t *testing.T, data []byte) []byte { return data[:16<<10] }},
		{"truncated to half", func(t *testing.T, data []byte) []byte { return data[:len(data)/2] }},
		{"truncated to one page", func(t *testing.T, data []byte) []byte { return data[:damagePageSize] }},
		{"leaf pages flipped", func(t *testing.T, data []byte) []byte {
			// A page whose header names itself and says "leaf" (flag 0x02);
			// flipping all of them hits the live ones whichever they are.
			n := 0
			for id := 2; (id+1)*damagePageSize <= len(data); id++ {
				p := data[id*damagePageSize : (id+1)*damagePageSize]
				if byteorder.NativeEndian.Uint64(p) == uint64(id) && byteorder.NativeEndian.Uint16(p[8:]) == 0x02 {
					for i := range p {
						p[i] ^= 0xFF
					}
					n++
				}
			}
			if n == 0 {
				t.Fatal("no leaf page found")
			}
			return data
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := storeFixture(t, dir)
			rewrite(t, path, func(data []byte) []byte { return tc.damage(t, data) })
			code, out := runServeToExit(t, dir)
			wantRefused(t, code, out, path, "is damaged", "cubelet store backup", "move "+path+" away")
		})
	}
}

func TestServe_StoreHeldByAnotherProcess_ExitsNamingHolder(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenDir(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	code, out := runServeToExit(t, dir)
	wantRefused(t, code, out, filepath.Join(dir, store.FileName),
		fmt.Sprintf("is locked by another cubelet (pid %d)", os.Getpid()))
	// bbolt's own lock would have waited its timeout first; the binary
	// is built with -race, so allow for its start-up.
	elapsed := time.Since(start)
	if elapsed > 5*time.Second {
		t.Errorf("refused after %s", elapsed)
	}
	t.Logf("cubelet serve exited after %s", elapsed)
}
