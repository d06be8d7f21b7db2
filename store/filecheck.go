package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// checkFile validates the structure of the bbolt file at path with plain,
// bounds-checked reads, before bbolt maps it. bbolt trusts its pages: a
// file truncated below its high-water mark faults (SIGSEGV/SIGBUS, which no
// recover catches) and a damaged page header makes it index out of range
// or recurse forever. So before bolt.Open this walks what bbolt would
// touch: both meta pages (magic, version, FNV checksum), the file size
// against the pages the meta says exist, the freelist, and every branch
// and leaf page reachable from the root (page id, type, element bounds,
// child ids below the high-water mark, no page reached twice). Record
// contents are left to the per-value checksums.
//
// The layout mirrors go.etcd.io/bbolt/internal/common (page.go, meta.go),
// which bbolt keeps stable across versions since files outlive binaries.
func checkFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("check store file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("check store file: %w", err)
	}
	c := &fileChecker{path: path, r: f, size: fi.Size(), seen: map[uint64]bool{}}
	return c.run()
}

// bbolt's on-disk constants (internal/common).
const (
	boltMagic          = 0xED0CDAED
	boltVersion        = 2
	pageHeaderSize     = 16
	pageElementSize    = 16 // branch and leaf elements alike
	inBucketSize       = 16
	branchPageFlag     = 0x01
	leafPageFlag       = 0x02
	metaPageFlag       = 0x04
	freelistPageFlag   = 0x10
	bucketLeafFlag     = 0x01
	pgidNoFreelist     = ^uint64(0)
	metaChecksumOffset = pageHeaderSize + 56
	maxCheckDepth      = 64 // far deeper than any real tree; stops a cycle
)

// bbolt writes its pages in the machine's byte order.
var pageOrder = binary.NativeEndian

type fileChecker struct {
	path     string
	r        io.ReaderAt
	size     int64
	pageSize int64
	hwm      uint64 // pages [0, hwm) exist
	seen     map[uint64]bool
}

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

func (c *fileChecker) corrupt(where string, format string, args ...any) error {
	return &CorruptError{Path: c.path, Where: where, Err: fmt.Errorf(format, args...)}
}

func (c *fileChecker) run() error {
	meta, err := c.chooseMeta()
	if err != nil {
		return err
	}
	c.pageSize = int64(meta.pageSize)
	c.hwm = meta.pgid
	if c.hwm < 3 || c.hwm > uint64(c.size) {
		return c.corrupt("meta page", "high-water mark of %d pages is impossible", c.hwm)
	}
	// bbolt sizes its file in whole pages (init writes four, growth
	// rounds to the mmap size or its allocation step); anything else was
	// cut or appended to.
	if c.size%c.pageSize != 0 {
		return c.corrupt("file size", "%d bytes is not a whole number of %d-byte pages: the file was truncated or extended", c.size, c.pageSize)
	}
	if need := int64(c.hwm) * c.pageSize; c.size < need {
		return c.corrupt("file size", "the file has %d bytes but its pages reach %d bytes: it was truncated", c.size, need)
	}
	if meta.freelist != pgidNoFreelist {
		if err := c.checkFreelist(meta.freelist); err != nil {
			return err
		}
	}
	return c.checkTree(meta.root, 0)
}

// chooseMeta finds the meta page bbolt will use: the valid one with the
// higher transaction id (a torn meta write leaves the other one valid).
func (c *fileChecker) chooseMeta() (boltMeta, error) {
	if c.size < 2*1024 {
		return boltMeta{}, c.corrupt("file size", "%d bytes is too small for a bbolt file", c.size)
	}
	// Page 0 tells the page size; if it is damaged, look for page 1 at
	// the sizes bbolt supports, as bbolt does.
	m0, err0 := c.readMeta(0, 0)
	var candidates []int64
	if err0 == nil {
		candidates = []int64{int64(m0.pageSize)}
	} else {
		for i := 0; i <= 14; i++ {
			candidates = append(candidates, 1024<<i)
		}
	}
	var m1 boltMeta
	err1 := errors.New("not found")
	for _, ps := range candidates {
		if ps >= c.size {
			break
		}
		if m, err := c.readMeta(ps, 1); err == nil && int64(m.pageSize) == ps {
			m1, err1 = m, nil
			break
		} else if err0 == nil {
			err1 = err
		}
	}
	switch {
	case err0 != nil && err1 != nil:
		return boltMeta{}, c.corrupt("meta pages", "neither meta page is valid (page 0: %v; page 1: %v)", err0, err1)
	case err0 != nil:
		return m1, nil
	case err1 != nil:
		return m0, nil
	case m1.txid > m0.txid:
		return m1, nil
	default:
		return m0, nil
	}
}

// readMeta reads and validates the meta page with id at offset off.
func (c *fileChecker) readMeta(off int64, id uint64) (boltMeta, error) {
	buf := make([]byte, pageHeaderSize+64)
	if _, err := c.r.ReadAt(buf, off); err != nil {
		return boltMeta{}, fmt.Errorf("read: %w", err)
	}
	if pageOrder.Uint32(buf[16:]) != boltMagic {
		return boltMeta{}, errors.New("bad magic")
	}
	if v := pageOrder.Uint32(buf[20:]); v != boltVersion {
		return boltMeta{}, fmt.Errorf("version %d", v)
	}
	h := fnv.New64a()
	h.Write(buf[pageHeaderSize:metaChecksumOffset])
	if pageOrder.Uint64(buf[metaChecksumOffset:]) != h.Sum64() {
		return boltMeta{}, errors.New("checksum mismatch")
	}
	if got := pageOrder.Uint64(buf[0:]); got != id || pageOrder.Uint16(buf[8:])&metaPageFlag == 0 {
		return boltMeta{}, fmt.Errorf("page header says page %d flags %#x", got, pageOrder.Uint16(buf[8:]))
	}
	m := boltMeta{
		pageSize: pageOrder.Uint32(buf[24:]),
		root:     pageOrder.Uint64(buf[32:]),
		freelist: pageOrder.Uint64(buf[48:]),
		pgid:     pageOrder.Uint64(buf[56:]),
		txid:     pageOrder.Uint64(buf[64:]),
	}
	if m.pageSize < 512 || m.pageSize > 1<<24 || m.pageSize&(m.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("page size %d", m.pageSize)
	}
	return m, nil
}

// readPage reads page id with its overflow pages, checking that they lie
// below the high-water mark and that the header names the page.
func (c *fileChecker) readPage(id uint64) ([]byte, error) {
	where := fmt.Sprintf("page %d", id)
	if id < 2 || id >= c.hwm {
		return nil, c.corrupt(where, "page id outside [2, %d)", c.hwm)
	}
	head := make([]byte, pageHeaderSize)
	if _, err := c.r.ReadAt(head, int64(id)*c.pageSize); err != nil {
		return nil, c.corrupt(where, "read: %v", err)
	}
	if got := pageOrder.Uint64(head); got != id {
		return nil, c.corrupt(where, "header names page %d", got)
	}
	overflow := uint64(pageOrder.Uint32(head[12:]))
	if id+overflow >= c.hwm {
		return nil, c.corrupt(where, "%d overflow pages run past the high-water mark %d", overflow, c.hwm)
	}
	buf := make([]byte, int64(overflow+1)*c.pageSize)
	if _, err := c.r.ReadAt(buf, int64(id)*c.pageSize); err != nil {
		return nil, c.corrupt(where, "read: %v", err)
	}
	for i := uint64(0); i <= overflow; i++ {
		if c.seen[id+i] {
			return nil, c.corrupt(where, "page %d is reached twice", id+i)
		}
		c.seen[id+i] = true
	}
	return buf, nil
}

func (c *fileChecker) checkFreelist(id uint64) error {
	p, err := c.readPage(id)
	if err != nil {
		return err
	}
	where := fmt.Sprintf("freelist page %d", id)
	if flags := pageOrder.Uint16(p[8:]); flags != freelistPageFlag {
		return c.corrupt(where, "page type %#x", flags)
	}
	start, count := uint64(pageHeaderSize), uint64(pageOrder.Uint16(p[10:]))
	if count == 0xFFFF {
		count = pageOrder.Uint64(p[pageHeaderSize:])
		start += 8
	}
	if count > (uint64(len(p))-start)/8 {
		return c.corrupt(where, "%d free ids do not fit in the page", count)
	}
	for i := range count {
		if free := pageOrder.Uint64(p[start+8*i:]); free < 2 || free >= c.hwm {
			return c.corrupt(where, "free page id %d outside [2, %d)", free, c.hwm)
		}
	}
	return nil
}

// checkTree checks the bucket tree rooted at page id.
func (c *fileChecker) checkTree(id uint64, depth int) error {
	if depth > maxCheckDepth {
		return c.corrupt(fmt.Sprintf("page %d", id), "tree deeper than %d levels", maxCheckDepth)
	}
	p, err := c.readPage(id)
	if err != nil {
		return err
	}
	return c.checkNode(p, fmt.Sprintf("page %d", id), depth)
}

// checkNode checks one branch or leaf page (p may also be an inline
// bucket's page, held in its parent's value).
func (c *fileChecker) checkNode(p []byte, where string, depth int) error {
	if len(p) < pageHeaderSize {
		return c.corrupt(where, "page of %d bytes", len(p))
	}
	flags, count := pageOrder.Uint16(p[8:]), int(pageOrder.Uint16(p[10:]))
	if pageHeaderSize+count*pageElementSize > len(p) {
		return c.corrupt(where, "%d elements do not fit in the page", count)
	}
	for i := range count {
		off := pageHeaderSize + i*pageElementSize
		e := p[off : off+pageElementSize]
		switch flags {
		case branchPageFlag:
			pos, ksize := int64(pageOrder.Uint32(e[0:])), int64(pageOrder.Uint32(e[4:]))
			if int64(off)+pos+ksize > int64(len(p)) {
				return c.corrupt(where, "branch element %d points outside the page", i)
			}
			if err := c.checkTree(pageOrder.Uint64(e[8:]), depth+1); err != nil {
				return err
			}
		case leafPageFlag:
			eflags := pageOrder.Uint32(e[0:])
			pos, ksize, vsize := int64(pageOrder.Uint32(e[4:])), int64(pageOrder.Uint32(e[8:])), int64(pageOrder.Uint32(e[12:]))
			vstart := int64(off) + pos + ksize
			if vstart+vsize > int64(len(p)) {
				return c.corrupt(where, "leaf element %d points outside the page", i)
			}
			if eflags&bucketLeafFlag == 0 {
				continue
			}
			v := p[vstart : vstart+vsize]
			if len(v) < inBucketSize {
				return c.corrupt(where, "bucket element %d of %d bytes", i, len(v))
			}
			if root := pageOrder.Uint64(v); root != 0 {
				if err := c.checkTree(root, depth+1); err != nil {
					return err
				}
			} else if err := c.checkNode(v[inBucketSize:], fmt.Sprintf("%s inline bucket %d", where, i), depth+1); err != nil {
				return err
			}
		default:
			return c.corrupt(where, "page type %#x where a branch or leaf page belongs", flags)
		}
	}
	return nil
}
