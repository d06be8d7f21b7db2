package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

func instanceOf(t *testing.T, path string) string {
	t.Helper()
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Close()
	if _, err := uuid.Parse(b.InstanceID()); err != nil {
		t.Fatalf("InstanceID %q is not a UUID: %v", b.InstanceID(), err)
	}
	return b.InstanceID()
}

func TestInstanceID_StableAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	first := instanceOf(t, path)
	if again := instanceOf(t, path); again != first {
		t.Errorf("InstanceID after reopen %s, want %s", again, first)
	}
}

func TestInstanceID_WipedStoreIsANewInstance(t *testing.T) {
	for _, tc := range []struct {
		name string
		wipe func(path string) error
	}{
		{"file deleted", os.Remove},
		{"file emptied", func(p string) error { return os.Truncate(p, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			old := instanceOf(t, path)
			if err := tc.wipe(path); err != nil {
				t.Fatal(err)
			}
			if got := instanceOf(t, path); got == old {
				t.Errorf("wiped store kept the instance ID %s", old)
			}
		})
	}
	t.Run("another data dir", func(t *testing.T) {
		a := instanceOf(t, filepath.Join(t.TempDir(), FileName))
		if b := instanceOf(t, filepath.Join(t.TempDir(), FileName)); a == b {
			t.Errorf("two new stores share the instance ID %s", a)
		}
	})
}

// TestOpen_Format1Store_MigratedWithChecksums builds a store as cubelet
// wrote it before checksums (plain JSON, raw revision, no format key) and
// opens it: the tasks and revision are kept, the records are sealed and
// the store gets an instance ID that then stays.
func TestOpen_Format1Store_MigratedWithChecksums(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	task := newTask("legacy")
	task.APIVersion, task.Kind, task.ResourceVersion, task.Generation = v1.APIVersion, v1.KindTask, "7", 1
	task.CreationTimestamp.Time = fixedNow
	data, err := json.Marshal(task)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		tasks, err := tx.CreateBucket([]byte(tasksBucket))
		if err != nil {
			return err
		}
		meta, err := tx.CreateBucket([]byte(metaBucket))
		if err != nil {
			return err
		}
		var rev [8]byte
		binary.BigEndian.PutUint64(rev[:], 7)
		if err := meta.Put([]byte(revisionKey), rev[:]); err != nil {
			return err
		}
		return tasks.Put([]byte("legacy"), data)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	b, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open of a format 1 store: %v", err)
	}
	got, err := b.Get(context.Background(), "legacy")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	want, _ := decodeTask(data)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("migrated task %+v, want %+v", got, want)
	}
	if rev := b.CurrentRevision(); rev != 7 {
		t.Errorf("revision %d after migration, want 7", rev)
	}
	id := b.InstanceID()
	err = b.db.View(func(tx *bolt.Tx) error {
		if f, err := readMeta(tx, formatKey); err != nil || string(f) != "2" {
			t.Errorf("format after migration %q (%v), want 2", f, err)
		}
		_, err := unseal(tx, tasksBucket, []byte("legacy"), tx.Bucket([]byte(tasksBucket)).Get([]byte("legacy")))
		return err
	})
	if err != nil {
		t.Errorf("migrated record: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if again := instanceOf(t, path); again != id {
		t.Errorf("instance ID %s after reopening the migrated store, want %s", again, id)
	}
}

// A format 2 store whose format record was lost must not pass for format
// 1 and be "migrated": its sealed records are not JSON.
func TestOpen_FormatRecordLost_RefusedNotMigrated(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, b, newTask("a"))
	b.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(metaBucket)).Delete([]byte(formatKey)) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	wantCorrupt(t, path)
}

func TestOpen_NewStore_ListsNothing(t *testing.T) {
	b, _ := openTestStore(t, Options{})
	list, err := b.List(context.Background(), labels.Everything())
	if err != nil || len(list.Items) != 0 || list.ResourceVersion != "0" {
		t.Errorf("List of a new store: %+v %v", list, err)
	}
}
