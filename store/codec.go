package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// The database holds two buckets: tasks (name → JSON Task) and meta
// (revision → 8-byte big-endian store revision).
const (
	tasksBucket = "tasks"
	metaBucket  = "meta"
	revisionKey = "revision"
)

// encodeTask stamps the type and returns the stored bytes together with the
// object decoded back from them. Callers hand out the decoded object, so
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
	if err := json.Unmarshal(data, t); err != nil {
		return nil, fmt.Errorf("decode task: %w", err)
	}
	t.APIVersion, t.Kind = v1.APIVersion, v1.KindTask
	return t, nil
}

// getTask returns the stored task named name, or nil when there is none.
func getTask(tx *bolt.Tx, name string) (*v1.Task, error) {
	data := tx.Bucket([]byte(tasksBucket)).Get([]byte(name))
	if data == nil {
		return nil, nil
	}
	t, err := decodeTask(data)
	if err != nil {
		return nil, fmt.Errorf("task %q: %w", name, err)
	}
	return t, nil
}

func readRevision(tx *bolt.Tx) (int64, error) {
	data := tx.Bucket([]byte(metaBucket)).Get([]byte(revisionKey))
	if data == nil {
		return 0, nil
	}
	if len(data) != 8 {
		return 0, fmt.Errorf("read revision: corrupt value of %d bytes", len(data))
	}
	return int64(binary.BigEndian.Uint64(data)), nil
}

func writeRevision(tx *bolt.Tx, rev int64) error {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(rev))
	if err := tx.Bucket([]byte(metaBucket)).Put([]byte(revisionKey), buf[:]); err != nil {
		return fmt.Errorf("write revision %d: %w", rev, err)
	}
	return nil
}

func formatRevision(rev int64) string {
	return strconv.FormatInt(rev, 10)
}
