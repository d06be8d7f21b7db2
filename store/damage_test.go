package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// damageFixture writes a store of 73 tasks (the count issue 11 damaged),
// each with a 2 KB environment so that they fill many pages, then closes
// it. It returns the file and the tasks as the store returned them.
func damageFixture(t *testing.T) (string, map[string]*v1.Task) {
	t.Helper()
	dir := t.TempDir()
	b, err := OpenDir(dir, Options{Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatalf("OpenDir: %v", err)
	}
	want := map[string]*v1.Task{}
	for i := range 73 {
		task := newTask(fmt.Sprintf("task-%03d", i))
		task.Spec.Image = fmt.Sprintf("registry.example/image-%03d:1", i)
		task.Spec.Env = []v1.EnvVar{{Name: "PAYLOAD", Value: strings.Repeat(fmt.Sprintf("%03d", i), 700)}}
		task.Labels = map[string]string{"app": fmt.Sprintf("a%d", i%5)}
		want[task.Name] = mustCreate(t, b, task)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return filepath.Join(dir, FileName), want
}

// openDamaged opens path and reports the error; a panic fails the test
// by crashing it, which is the point.
func wantCorrupt(t *testing.T, path string, wantIn ...string) {
	t.Helper()
	b, err := Open(path, Options{})
	if err == nil {
		b.Close()
		t.Fatalf("Open of a damaged store succeeded")
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open error %v, want one matching ErrCorrupt", err)
	}
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Path != path {
		t.Errorf("error %v does not carry the file %s", err, path)
	}
	for _, s := range append([]string{path, "cubelet store backup", "move"}, wantIn...) {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func flipAll(t *testing.T, path string, find, replace []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, find) || len(find) != len(replace) {
		t.Fatalf("%q not in the file, or %q of another length", find, replace)
	}
	// In place, without truncating: the store may have the file mapped.
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.ReplaceAll(data, find, replace), 0); err != nil {
		t.Fatal(err)
	}
}

func TestOpen_FlippedByteInRecord_RefusedNamingFileAndKey(t *testing.T) {
	path, _ := damageFixture(t)
	// Every copy, so the live one is hit whichever it is (freed pages keep
	// stale copies). 'r' → 'R' keeps the JSON valid: only a checksum can
	// tell.
	flipAll(t, path, []byte(`registry.example/image-037`), []byte(`Registry.example/image-037`))
	wantCorrupt(t, path, `tasks/"task-037"`, "checksum mismatch")
}

func TestOpen_FlippedByteInKey_Refused(t *testing.T) {
	path, _ := damageFixture(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A leaf stores the key, then the value: a 4-byte checksum and the
	// JSON. Damage the key only (every copy of it), not the name inside.
	key := []byte("task-042")
	hit := 0
	for i := 0; ; {
		j := bytes.Index(data[i:], key)
		if j < 0 {
			break
		}
		i += j
		if end := i + len(key) + checksumSize; end < len(data) && data[end] == '{' {
			data[i+len(key)-1] = 'B'
			hit++
		}
		i += len(key)
	}
	if hit == 0 {
		t.Fatal("key not found in the file")
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	wantCorrupt(t, path)
}

func TestGet_RecordDamagedWhileOpen_ErrorNotData(t *testing.T) {
	path, _ := damageFixture(t)
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Close()
	// bbolt maps the file shared, so a write through another descriptor
	// is what the next read sees: damage arriving after the check on Open.
	flipAll(t, path, []byte(`registry.example/image-012`), []byte("registry.example/image-0\xff2"))
	_, err = b.Get(context.Background(), "task-012")
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `tasks/"task-012"`) || !strings.Contains(err.Error(), path) {
		t.Errorf("Get of a damaged record: %v, want a CorruptError naming %s and the key", err, path)
	}
	if _, err := b.List(context.Background(), labels.Everything()); !errors.Is(err, ErrCorrupt) {
		t.Errorf("List with a damaged record: %v, want ErrCorrupt", err)
	}
	if _, err := b.Watch(context.Background(), ""); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Watch from a snapshot with a damaged record: %v, want ErrCorrupt", err)
	}
}

// TestOpen_RandomFlipsInDataPages_NeverServesDamage is issue 11's attack:
// 200 byte flips past the meta pages. Whatever they hit, the store either
// refuses to open or serves exactly what was written.
func TestOpen_RandomFlipsInDataPages_NeverServesDamage(t *testing.T) {
	path, want := damageFixture(t)
	clean, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	refused, served := 0, 0
	// 200 flips (issue 11's attack) and single flips: one flip often lands
	// in free space, so both outcomes are exercised.
	for _, flips := range []int{200, 1} {
		for seed := range 20 {
			data := bytes.Clone(clean)
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(flips)))
			for range flips {
				off := 2*4096 + rng.IntN(len(data)-2*4096)
				data[off] ^= byte(1 + rng.IntN(255))
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			b, err := Open(path, Options{})
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("%d flips, seed %d: error %v, want ErrCorrupt", flips, seed, err)
				}
				refused++
				continue
			}
			served++
			list, err := b.List(context.Background(), labels.Everything())
			if err != nil {
				t.Errorf("%d flips, seed %d: opened, then List: %v", flips, seed, err)
			} else if len(list.Items) != len(want) {
				t.Errorf("%d flips, seed %d: %d tasks served, want %d", flips, seed, len(list.Items), len(want))
			}
			for i := range list.Items {
				if got := &list.Items[i]; !reflect.DeepEqual(got, want[got.Name]) {
					t.Errorf("%d flips, seed %d: task %s served damaged", flips, seed, got.Name)
				}
			}
			// Lookups go through the branch pages, which a list does not.
			for name, w := range want {
				if got, err := b.Get(context.Background(), name); err != nil || !reflect.DeepEqual(got, w) {
					t.Errorf("%d flips, seed %d: Get %s: %v", flips, seed, name, err)
				}
			}
			b.Close()
		}
	}
	t.Logf("%d damaged files refused, %d opened and served intact", refused, served)
	if refused == 0 {
		t.Errorf("no damaged file was refused: the flips missed everything, so the test proves nothing")
	}
}

func TestOpen_Truncated_RefusedWithoutPanic(t *testing.T) {
	for _, tc := range []struct {
		name string
		size func(int64) int64
	}{
		{"to 16 KiB", func(int64) int64 { return 16 << 10 }},
		{"to half", func(n int64) int64 { return n / 2 }},
		{"to one page", func(int64) int64 { return 4096 }},
		{"to 100 bytes", func(int64) int64 { return 100 }},
		{"by one byte", func(n int64) int64 { return n - 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := damageFixture(t)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, tc.size(fi.Size())); err != nil {
				t.Fatal(err)
			}
			wantCorrupt(t, path)
		})
	}
}

// leafPages returns the reachable leaf pages of the file, as the checker
// walks them.
func leafPages(t *testing.T, path string) (pageSize int64, leaves []uint64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	c := &fileChecker{path: path, r: f, size: fi.Size(), seen: map[uint64]bool{}}
	if err := c.run(); err != nil {
		t.Fatalf("check of the undamaged file: %v", err)
	}
	head := make([]byte, pageHeaderSize)
	for id := range c.seen {
		if _, err := f.ReadAt(head, int64(id)*c.pageSize); err != nil {
			t.Fatal(err)
		}
		if pageOrder.Uint64(head) == id && pageOrder.Uint16(head[8:]) == leafPageFlag && pageOrder.Uint16(head[10:]) > 1 {
			leaves = append(leaves, id)
		}
	}
	if len(leaves) == 0 {
		t.Fatal("no leaf page found")
	}
	return c.pageSize, leaves
}

func TestOpen_DamagedLeafPage_RefusedWithoutPanic(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(page []byte)
	}{
		{"every byte flipped", func(p []byte) {
			for i := range p {
				p[i] ^= 0xFF
			}
		}},
		{"element count maximal", func(p []byte) { pageOrder.PutUint16(p[10:], 0xFFFF) }},
		{"element position far outside", func(p []byte) { pageOrder.PutUint32(p[pageHeaderSize+4:], 1<<30) }},
		{"record turned into a bucket", func(p []byte) { pageOrder.PutUint32(p[pageHeaderSize:], bucketLeafFlag) }},
		{"page type branch", func(p []byte) { pageOrder.PutUint16(p[8:], branchPageFlag) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := damageFixture(t)
			pageSize, leaves := leafPages(t, path)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range leaves {
				tc.damage(data[int64(id)*pageSize : int64(id+1)*pageSize])
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			wantCorrupt(t, path)
		})
	}
}

func TestOpen_BothMetaPagesDamaged_Refused(t *testing.T) {
	path, _ := damageFixture(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[pageHeaderSize+40] ^= 1 // meta 0's freelist id: its checksum fails
	data[4096+pageHeaderSize+40] ^= 1
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	wantCorrupt(t, path, "meta")
}

func errorsIsCorrupt(err error) bool { return errors.Is(err, ErrCorrupt) }
