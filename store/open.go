package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// openChecked opens the bbolt file at path after checking its structure,
// verifies it, and prepares it: creates the buckets and the identity of a
// new store, migrates a store of format 1, verifies every record of one
// of format 2. It returns the instance ID and the revision.
func openChecked(path string, opts Options) (db *bolt.DB, id string, rev int64, err error) {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.Size() > 0:
		if err := checkFile(path); err != nil {
			return nil, "", 0, err
		}
	case err == nil, errors.Is(err, fs.ErrNotExist):
		// bbolt initialises a missing or empty file: a new store.
	default:
		return nil, "", 0, fmt.Errorf("open store %s: %w", path, err)
	}
	err = guard(path, "opening", func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
		return err
	})
	if err != nil {
		if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrVersionMismatch) {
			err = &CorruptError{Path: path, Where: "meta pages", Err: err}
		}
		return nil, "", 0, fmt.Errorf("open store %s: %w", path, err)
	}
	err = guard(path, "checking", func() error { return db.View(checkConsistency) })
	if err == nil {
		err = guard(path, "verifying", func() error {
			return db.Update(func(tx *bolt.Tx) error {
				var err error
				id, rev, err = prepare(tx)
				return err
			})
		})
	}
	if err != nil {
		_ = db.Close()
		return nil, "", 0, err
	}
	return db, id, rev, nil
}

// guard runs fn, turning a panic or a memory fault inside bbolt into a
// *CorruptError. checkFile should leave bbolt nothing to trip on; this is
// the net under it. A fault becomes a panic only on a goroutine that asked
// for it (debug.SetPanicOnFault), so fn runs on this one.
func guard(path, doing string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &CorruptError{Path: path, Where: "while " + doing + " the file", Err: fmt.Errorf("bbolt failed: %v", r)}
		}
	}()
	return fn()
}

// checkConsistency runs bbolt's own check: every page reachable once or
// free, keys in order. It reports the first few findings.
func checkConsistency(tx *bolt.Tx) error {
	var found []string
	for err := range tx.Check() {
		if len(found) < 3 {
			found = append(found, err.Error())
		}
	}
	if len(found) > 0 {
		return &CorruptError{Path: tx.DB().Path(), Where: "consistency check", Err: errors.New(strings.Join(found, "; "))}
	}
	return nil
}

// prepare readies an opened store in one transaction and returns its
// instance ID and revision.
//
// A file with no buckets at all is new (bbolt just created it, or a crash
// came before this first commit): it gets its buckets, the current format
// and a fresh instance ID. A store of format 1 (no format key: written
// before checksums) is sealed and gets its instance ID now. One of format
// 2 has every record's checksum verified. Anything else is damage.
func prepare(tx *bolt.Tx) (string, int64, error) {
	tasks, meta := tx.Bucket([]byte(tasksBucket)), tx.Bucket([]byte(metaBucket))
	if tasks == nil && meta == nil {
		return initialise(tx)
	}
	if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		if string(name) != tasksBucket && string(name) != metaBucket {
			return &CorruptError{Path: tx.DB().Path(), Where: "buckets", Err: fmt.Errorf("unknown bucket %q", name)}
		}
		return nil
	}); err != nil {
		return "", 0, err
	}
	if tasks == nil || meta == nil {
		return "", 0, &CorruptError{Path: tx.DB().Path(), Where: "buckets", Err: errors.New("a bucket is missing")}
	}
	format := 1
	if meta.Get([]byte(formatKey)) != nil {
		data, err := readMeta(tx, formatKey)
		if err != nil {
			return "", 0, err
		}
		if format, err = strconv.Atoi(string(data)); err != nil {
			return "", 0, corruptValue(tx, metaBucket, []byte(formatKey), err)
		}
	}
	switch format {
	case 1:
		if err := migrateFormat1(tx); err != nil {
			return "", 0, err
		}
	case formatVersion:
		if err := verifyRecords(tx); err != nil {
			return "", 0, err
		}
	default:
		return "", 0, fmt.Errorf("store %s has format %d; this cubelet reads format %d and older", tx.DB().Path(), format, formatVersion)
	}
	data, err := readMeta(tx, instanceKey)
	if err != nil {
		return "", 0, err
	}
	id, err := uuid.ParseBytes(data)
	if err != nil {
		return "", 0, corruptValue(tx, metaBucket, []byte(instanceKey), fmt.Errorf("instance ID: %w", err))
	}
	rev, err := readRevision(tx)
	return id.String(), rev, err
}

// initialise lays out a new store.
func initialise(tx *bolt.Tx) (string, int64, error) {
	for _, name := range []string{tasksBucket, metaBucket} {
		if _, err := tx.CreateBucket([]byte(name)); err != nil {
			return "", 0, fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	id := uuid.NewString()
	if err := writeMeta(tx, formatKey, []byte(strconv.Itoa(formatVersion))); err != nil {
		return "", 0, err
	}
	if err := writeMeta(tx, instanceKey, []byte(id)); err != nil {
		return "", 0, err
	}
	return id, 0, nil
}

// migrateFormat1 seals every record of a store written before checksums
// and gives it an instance ID: the store predates identities, so this is
// its creation as far as identity goes. Such a store's meta bucket holds
// the revision alone, raw; its tasks are plain JSON named by their key.
// Anything else means the format key itself was damaged, and is refused
// rather than rewritten.
func migrateFormat1(tx *bolt.Tx) error {
	meta := tx.Bucket([]byte(metaBucket))
	var rev []byte
	if err := meta.ForEach(func(k, v []byte) error {
		if string(k) != revisionKey || len(v) != 8 {
			return corruptValue(tx, metaBucket, k, errors.New("not a record of a format 1 store, and the format record is missing"))
		}
		rev = append([]byte(nil), v...)
		return nil
	}); err != nil {
		return err
	}
	tasks := tx.Bucket([]byte(tasksBucket))
	type record struct{ key, value []byte }
	var records []record
	if err := tasks.ForEach(func(k, v []byte) error {
		t, err := decodeTask(v)
		if err != nil {
			return corruptValue(tx, tasksBucket, k, err)
		}
		if t.Name != string(k) {
			return corruptValue(tx, tasksBucket, k, fmt.Errorf("holds task %q", t.Name))
		}
		records = append(records, record{append([]byte(nil), k...), append([]byte(nil), v...)})
		return nil
	}); err != nil {
		return err
	}
	// bbolt forbids writes inside ForEach, hence the copies.
	for _, r := range records {
		if err := putTask(tasks, string(r.key), r.value); err != nil {
			return fmt.Errorf("migrate task %q: %w", r.key, err)
		}
	}
	if rev != nil {
		if err := writeMeta(tx, revisionKey, rev); err != nil {
			return err
		}
	}
	if err := writeMeta(tx, instanceKey, []byte(uuid.NewString())); err != nil {
		return err
	}
	return writeMeta(tx, formatKey, []byte(strconv.Itoa(formatVersion)))
}

// verifyRecords checks every record of a format 2 store.
func verifyRecords(tx *bolt.Tx) error {
	if err := tx.Bucket([]byte(metaBucket)).ForEach(func(k, v []byte) error {
		switch string(k) {
		case revisionKey, formatKey, instanceKey:
			_, err := unseal(tx, metaBucket, k, v)
			return err
		default:
			return corruptValue(tx, metaBucket, k, errors.New("unknown record"))
		}
	}); err != nil {
		return err
	}
	if _, err := readRevision(tx); err != nil {
		return err
	}
	return tx.Bucket([]byte(tasksBucket)).ForEach(func(k, v []byte) error {
		_, err := readTask(tx, k, v)
		return err
	})
}

// FileInfo is what VerifyFile found in a store file.
type FileInfo struct {
	InstanceID string
	Revision   int64
	Tasks      int
}

// VerifyFile checks the store file at path as Open does (structure,
// bbolt's consistency check, every record's checksum) without changing
// it or taking the store's lock, so it can check a backup before it is
// put in place. Only the current format passes: a backup is written by a
// running cubelet, which has migrated its store.
func VerifyFile(path string) (FileInfo, error) {
	var info FileInfo
	if err := checkFile(path); err != nil {
		return info, err
	}
	var db *bolt.DB
	err := guard(path, "opening", func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		return err
	})
	if err != nil {
		return info, fmt.Errorf("open store %s: %w", path, err)
	}
	defer db.Close()
	err = guard(path, "verifying", func() error {
		return db.View(func(tx *bolt.Tx) error {
			if err := checkConsistency(tx); err != nil {
				return err
			}
			tasks, meta := tx.Bucket([]byte(tasksBucket)), tx.Bucket([]byte(metaBucket))
			if tasks == nil || meta == nil {
				return &CorruptError{Path: path, Where: "buckets", Err: errors.New("not a cubelet store: a bucket is missing")}
			}
			format, err := readMeta(tx, formatKey)
			if err != nil {
				return err
			}
			if string(format) != strconv.Itoa(formatVersion) {
				return fmt.Errorf("store %s has format %q, want %d", path, format, formatVersion)
			}
			if err := verifyRecords(tx); err != nil {
				return err
			}
			id, err := readMeta(tx, instanceKey)
			if err != nil {
				return err
			}
			info.InstanceID = string(id)
			info.Tasks = tasks.Stats().KeyN
			info.Revision, err = readRevision(tx)
			return err
		})
	})
	return info, err
}
