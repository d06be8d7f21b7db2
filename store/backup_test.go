package store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

// TestBackup_WhileWriting_CopyIsAConsistentStore takes a backup while
// eight writers create tasks, then opens the copy: it verifies, holds
// every task acknowledged before the backup began, and its revision
// counts exactly the tasks it holds (one create each), so no write is
// half in it.
func TestBackup_WhileWriting_CopyIsAConsistentStore(t *testing.T) {
	b, _ := openTestStore(t, Options{})
	var created atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := b.Create(context.Background(), newTask(fmt.Sprintf("g%d-%05d", g, i))); err != nil {
					errs <- err
					return
				}
				created.Add(1)
			}
		}()
	}
	// Let the writers get going: poll, never sleep.
	for created.Load() < 200 {
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
			runtime.Gosched()
		}
	}
	before, err := b.List(context.Background(), labels.Everything())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := b.Backup(&buf)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("Backup reported %d bytes, wrote %d", n, buf.Len())
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := VerifyFile(path)
	if err != nil {
		t.Fatalf("VerifyFile of the backup: %v", err)
	}
	if info.InstanceID != b.InstanceID() || info.Revision != int64(info.Tasks) {
		t.Errorf("backup info %+v: want instance %s and a revision equal to its task count", info, b.InstanceID())
	}

	copyStore, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open the backup: %v", err)
	}
	defer copyStore.Close()
	got, err := copyStore.List(context.Background(), labels.Everything())
	if err != nil {
		t.Fatal(err)
	}
	have := make(map[string]int, len(got.Items))
	for i, it := range got.Items {
		have[it.Name] = i
	}
	for _, want := range before.Items {
		i, ok := have[want.Name]
		if !ok {
			t.Errorf("task %s, stored before the backup, missing from it", want.Name)
			continue
		}
		if !reflect.DeepEqual(got.Items[i], want) {
			t.Errorf("task %s differs in the backup", want.Name)
		}
	}
	t.Logf("backup of %d bytes holds %d tasks (%d before it began, %d created in all)", n, len(got.Items), len(before.Items), created.Load())
}

func TestVerifyFile_DamagedBackup_Refused(t *testing.T) {
	path, _ := damageFixture(t)
	if _, err := VerifyFile(path); err != nil {
		t.Fatalf("VerifyFile of a sound store: %v", err)
	}
	flipAll(t, path, []byte(`registry.example/image-001`), []byte(`registry.example/image-00!`))
	if _, err := VerifyFile(path); !errorsIsCorrupt(err) {
		t.Errorf("VerifyFile of a damaged store: %v, want ErrCorrupt", err)
	}
	if err := os.Truncate(path, 8192); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyFile(path); !errorsIsCorrupt(err) {
		t.Errorf("VerifyFile of a truncated store: %v, want ErrCorrupt", err)
	}
}
