package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"strconv"

	bolt "go.etcd.io/bbolt"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// The database holds two buckets: tasks (name → Task as JSON) and meta
// (revision → 8-byte big-endian store revision, format → the layout
// version, instance → the store's UUID).
//
// Since format 2 every value is sealed: a 4-byte big-endian CRC-32C of the
// key and the payload, then the payload. bbolt checks its meta pages and
// nothing else, so a flipped bit in a data page would otherwise be served
// as it is (issue 11 saw U+FFFD in task JSON). The key is covered too, so a
// damaged key cannot pass a value off as another task's.
const (
	tasksBucket = "tasks"
	metaBucket  = "meta"
	revisionKey = "revision"
	formatKey   = "format"
	instanceKey = "instance"

	// formatVersion is the layout this code writes. A store without a
	// format key predates checksums (format 1) and is migrated on Open.
	formatVersion = 2
	checksumSize  = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(key, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, payload)
}

// seal returns payload prefixed with its checksum, ready for Put.
func seal(key, payload []byte) []byte {
	out := make([]byte, checksumSize+len(payload))
	binary.BigEndian.PutUint32(out, checksum(key, payload))
	copy(out[checksumSize:], payload)
	return out
}

// unseal checks value, stored under bucket/key, and returns its payload
// (still memory of the transaction). A mismatch is a *CorruptError naming
// the file and the key.
func unseal(tx *bolt.Tx, bucket string, key, value []byte) ([]byte, error) {
	if len(value) < checksumSize {
		return nil, corruptValue(tx, bucket, key, fmt.Errorf("value of %d bytes is shorter than its checksum", len(value)))
	}
	payload := value[checksumSize:]
	if want, got := binary.BigEndian.Uint32(value), checksum(key, payload); want != got {
		return nil, corruptValue(tx, bucket, key, fmt.Errorf("checksum mismatch (stored %08x, computed %08x)", want, got))
	}
	return payload, nil
}

// encodeTask stamps the type and returns the JSON to store together with
// the object decoded back from it. Callers hand out the decoded object, so
// what a write returns is exactly what a later Get returns (timestamps at
// second precision, quantities in canonical form).
func encodeTask(t *v1.Task) ([]byte, *v1.Task, error) {
	t.APIVersion, t.Kind = v1.APIVersion, v1.KindTask
	data, err := json.Marshal(t)
	if err != nil {
		return nil, nil, fmt.Errorf("encode task %q: %w", t.Name, err)
	}
	out, err := decodeTask(data)
	if err != nil {
		return nil, nil, err
	}
	return data, out, nil
}

// decodeTask copies everything it needs out of data, which may be memory
// owned by a bolt transaction.
func decodeTask(data []byte) (*v1.Task, error) {
	t := &v1.Task{}
	if err := decodeTaskInto(data, t); err != nil {
		return nil, err
	}
	return t, nil
}

// decodeTaskInto is decodeTask into t, which must be zero.
func decodeTaskInto(data []byte, t *v1.Task) error {
	if err := json.Unmarshal(data, t); err != nil {
		return fmt.Errorf("decode task: %w", err)
	}
	t.APIVersion, t.Kind = v1.APIVersion, v1.KindTask
	return nil
}

// readTask checks and decodes the task stored under key.
func readTask(tx *bolt.Tx, key, value []byte) (*v1.Task, error) {
	t := &v1.Task{}
	if err := readTaskInto(tx, key, value, t); err != nil {
		return nil, err
	}
	return t, nil
}

// readTaskInto is readTask into t, which must be zero.
func readTaskInto(tx *bolt.Tx, key, value []byte, t *v1.Task) error {
	payload, err := unseal(tx, tasksBucket, key, value)
	if err != nil {
		return err
	}
	return decodeRecordInto(tx, key, payload, t)
}

// decodeRecordInto decodes the checked payload stored under key into t,
// which must be zero. A task whose checksum holds but whose name differs
// from its key is damage too (a value written under the wrong key cannot
// happen otherwise).
func decodeRecordInto(tx *bolt.Tx, key, payload []byte, t *v1.Task) error {
	if err := decodeTaskInto(payload, t); err != nil {
		return corruptValue(tx, tasksBucket, key, err)
	}
	if t.Name != string(key) {
		return corruptValue(tx, tasksBucket, key, fmt.Errorf("holds task %q", t.Name))
	}
	return nil
}

// getTask returns the stored task named name, or nil when there is none.
func getTask(tx *bolt.Tx, name string) (*v1.Task, error) {
	t, _, err := getRecord(tx, name)
	return t, err
}

// getRecord is getTask that also returns the record's checked payload,
// memory of the transaction.
func getRecord(tx *bolt.Tx, name string) (*v1.Task, []byte, error) {
	value := tx.Bucket([]byte(tasksBucket)).Get([]byte(name))
	if value == nil {
		return nil, nil, nil
	}
	payload, err := unseal(tx, tasksBucket, []byte(name), value)
	if err != nil {
		return nil, nil, err
	}
	t := &v1.Task{}
	if err := decodeRecordInto(tx, []byte(name), payload, t); err != nil {
		return nil, nil, err
	}
	return t, payload, nil
}

// putTask stores the task JSON data under name, sealed.
func putTask(tasks *bolt.Bucket, name string, data []byte) error {
	return tasks.Put([]byte(name), seal([]byte(name), data))
}

// readMeta returns the checked payload of a meta key, nil when absent.
func readMeta(tx *bolt.Tx, key string) ([]byte, error) {
	value := tx.Bucket([]byte(metaBucket)).Get([]byte(key))
	if value == nil {
		return nil, nil
	}
	return unseal(tx, metaBucket, []byte(key), value)
}

func writeMeta(tx *bolt.Tx, key string, payload []byte) error {
	if err := tx.Bucket([]byte(metaBucket)).Put([]byte(key), seal([]byte(key), payload)); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

func readRevision(tx *bolt.Tx) (int64, error) {
	data, err := readMeta(tx, revisionKey)
	if err != nil || data == nil {
		return 0, err
	}
	if len(data) != 8 {
		return 0, corruptValue(tx, metaBucket, []byte(revisionKey), fmt.Errorf("revision of %d bytes, want 8", len(data)))
	}
	return int64(binary.BigEndian.Uint64(data)), nil
}

func writeRevision(tx *bolt.Tx, rev int64) error {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(rev))
	return writeMeta(tx, revisionKey, buf[:])
}

func formatRevision(rev int64) string {
	return strconv.FormatInt(rev, 10)
}
