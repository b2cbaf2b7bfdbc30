package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// Blob files keep large objects out of the engine; the format, the crash
// safety argument and the rules for readers are in the package doc ("Blob
// files").

// blobPointerV1 is the first byte of a blob pointer (objects start with
// objectFormatV1, 0xd1).
const blobPointerV1 = 0xb1

// blobPointerMax is the longest encoding of a pointer.
const blobPointerMax = 1 + 8 + binary.MaxVarintLen64 + 4

// blobRef is a decoded blob pointer.
type blobRef struct {
	seq  uint64
	size int
	crc  uint32 // the object's trailing CRC-32C
}

func appendBlobPointer(dst []byte, r blobRef) []byte {
	dst = append(dst, blobPointerV1)
	dst = binary.BigEndian.AppendUint64(dst, r.seq)
	dst = binary.AppendUvarint(dst, uint64(r.size))
	return binary.BigEndian.AppendUint32(dst, r.crc)
}

// isBlobPointer reports whether a stored object value is a blob pointer.
func isBlobPointer(v []byte) bool { return len(v) > 0 && v[0] == blobPointerV1 }

// parseBlobPointer parses a pointer written by appendBlobPointer; anything
// else is an error wrapping ErrCorrupt.
func parseBlobPointer(b []byte) (blobRef, error) {
	if len(b) < 1+8+1+4 || b[0] != blobPointerV1 {
		return blobRef{}, fmt.Errorf("storage: blob pointer: %w: %d bytes", ErrCorrupt, len(b))
	}
	r := blobRef{seq: binary.BigEndian.Uint64(b[1:])}
	size, w := binary.Uvarint(b[9:])
	if w <= 0 || w != uvarintLen(size) || len(b) != 9+w+4 || size < 1+1+1+crcSize || size > math.MaxInt {
		return blobRef{}, fmt.Errorf("storage: blob pointer: %w: bad size or length", ErrCorrupt)
	}
	r.size = int(size)
	r.crc = binary.BigEndian.Uint32(b[9+w:])
	return r, nil
}

// blobName is the file name of blob seq of an object whose key hashes to
// hash: both as 16 hex digits, so names sort by hash.
func blobName(hash, seq uint64) string {
	return fmt.Sprintf("%016x-%016x.blob", hash, seq)
}

// parseBlobName parses a name written by blobName.
func parseBlobName(name string) (hash, seq uint64, ok bool) {
	if len(name) != 16+1+16+5 || name[16] != '-' || name[33:] != ".blob" {
		return 0, 0, false
	}
	hash, err1 := strconv.ParseUint(name[:16], 16, 64)
	seq, err2 := strconv.ParseUint(name[17:33], 16, 64)
	return hash, seq, err1 == nil && err2 == nil
}

// errBlobSize reports a blob file whose length is not the pointer's.
var errBlobSize = errors.New("storage: blob file has the wrong size")

// blobFS is the directory blob files live in.
type blobFS interface {
	// WriteFile creates the file name, which must not exist, holding data,
	// and makes it durable (its data and its directory entry synced)
	// before it returns. On error a partial file may be left behind.
	WriteFile(name string, data []byte) error
	// ReadFile returns the content of the file name, which must be
	// exactly size bytes long (an error wrapping errBlobSize otherwise,
	// found before allocating), in buf if its capacity is enough. A
	// missing file gives an error wrapping fs.ErrNotExist.
	ReadFile(name string, size int, buf []byte) ([]byte, error)
	// Remove removes the file name; a missing file is not an error. The
	// removal need not be durable when Remove returns.
	Remove(name string) error
	// List returns the names of the files in the directory.
	List() ([]string, error)
}

// osBlobFS is a blobFS on a directory of the operating system.
type osBlobFS struct{ dir string }

func (f osBlobFS) WriteFile(name string, data []byte) (err error) {
	path := filepath.Join(f.dir, name)
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path) // no pointer names it; the sweep would too
		}
	}()
	if _, err := file.Write(data); err != nil {
		return err
	}
	if err := file.Sync(); err != nil {
		return err
	}
	return f.syncDir()
}

func (f osBlobFS) syncDir() error {
	d, err := os.Open(f.dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (f osBlobFS) ReadFile(name string, size int, buf []byte) ([]byte, error) {
	file, err := os.Open(filepath.Join(f.dir, name))
	if err != nil {
		return nil, err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() != int64(size) {
		return nil, fmt.Errorf("%w: %s is %d bytes, want %d", errBlobSize, name, st.Size(), size)
	}
	buf = sized(buf, size)
	if _, err := io.ReadFull(file, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: %s ended early", errBlobSize, name)
		}
		return nil, err
	}
	return buf, nil
}

// sized returns buf resized to n bytes, or a new slice if buf is too small.
func sized(buf []byte, n int) []byte {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]byte, n)
}

func (f osBlobFS) Remove(name string) error {
	err := os.Remove(filepath.Join(f.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (f osBlobFS) List() ([]string, error) {
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

// blobStore is the Store's part that keeps blob files: naming, the count
// of pointers per hash, and deferred removal.
type blobStore struct {
	fs       blobFS
	minBytes int
	// seq is the last sequence number used.
	seq atomic.Uint64
	// pointers is the sum of held, read without mu: most stores hold no
	// large object, and their writes then skip the lock.
	pointers atomic.Int64

	// mu guards the fields below. No file is touched with it held.
	mu sync.Mutex
	// held counts, per Key.Hash, the stored objects that may be pointers:
	// a Put or Delete reads the old value (to find the file it replaces)
	// only when its hash has some. A failed write may leave it too high,
	// which costs reads, never files.
	held map[uint64]int
	// epoch advances with every file a write replaces; readers counts the
	// scans in progress by the epoch they started in.
	epoch   uint64
	readers map[uint64]int
	// doomed are files no stored pointer names, kept until every scan
	// that started in their epoch or before has ended.
	doomed []doomedBlob
}

type doomedBlob struct {
	name  string
	epoch uint64
}

// openBlobStore sweeps the blob directory against the pointers in e:
// files no pointer names (a crash or a failed write left them) are
// removed, and the pointers are counted.
func openBlobStore(fsys blobFS, minBytes int, e Engine) (*blobStore, error) {
	b := &blobStore{fs: fsys, minBytes: minBytes, held: make(map[uint64]int), readers: make(map[uint64]int)}
	names, err := fsys.List()
	if err != nil {
		return nil, fmt.Errorf("storage: list blob files: %w", err)
	}
	files := make(map[uint64][]uint64) // hash → seqs
	var maxSeq uint64
	for _, name := range names {
		hash, seq, ok := parseBlobName(name)
		if !ok {
			continue // not ours
		}
		files[hash] = append(files[hash], seq)
		maxSeq = max(maxSeq, seq)
	}
	b.seq.Store(maxSeq)
	for _, hash := range slices.Sorted(maps.Keys(files)) {
		named := make(map[uint64]bool)
		start, end := objectRange(hash, hash)
		err := e.Scan(start, end, func(_, v []byte) error {
			if !isBlobPointer(v) {
				return nil
			}
			b.held[hash]++
			b.pointers.Add(1)
			if r, err := parseBlobPointer(v); err == nil {
				named[r.seq] = true
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("storage: sweep blob files: %w", err)
		}
		for _, seq := range files[hash] {
			if named[seq] {
				continue
			}
			if err := fsys.Remove(blobName(hash, seq)); err != nil {
				return nil, fmt.Errorf("storage: sweep blob files: %w", err)
			}
		}
	}
	return b, nil
}

// mayHold reports whether an object with this hash may be a pointer.
func (b *blobStore) mayHold(hash uint64) bool {
	if b.pointers.Load() == 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held[hash] > 0
}

// stored records a write of an object with this hash: whether the value
// it replaced was a pointer, and whether the new one is (a delete is not).
func (b *blobStore) stored(hash uint64, oldPtr, newPtr bool) {
	if oldPtr == newPtr {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if newPtr {
		b.held[hash]++
		b.pointers.Add(1)
		return
	}
	if b.held[hash] > 0 {
		b.pointers.Add(-1)
	}
	if b.held[hash]--; b.held[hash] <= 0 {
		delete(b.held, hash)
	}
}

// maybeStored records a write whose outcome is unknown: the new pointer
// may be stored, and the old one may still be.
func (b *blobStore) maybeStored(hash uint64, newPtr bool) {
	if newPtr {
		b.stored(hash, false, true)
	}
}

// write stores obj in a new blob file for an object whose key hashes to
// hash, durably, and returns its pointer.
func (b *blobStore) write(hash uint64, obj []byte) (blobRef, error) {
	r := blobRef{seq: b.seq.Add(1), size: len(obj), crc: binary.BigEndian.Uint32(obj[len(obj)-crcSize:])}
	if err := b.fs.WriteFile(blobName(hash, r.seq), obj); err != nil {
		return blobRef{}, err
	}
	return r, nil
}

// read returns the object r names for an object whose key hashes to hash,
// in buf if it is large enough. A file whose length or CRC is not the
// pointer's gives an error wrapping ErrCorrupt; a missing file one wrapping
// fs.ErrNotExist.
func (b *blobStore) read(hash uint64, r blobRef, buf []byte) ([]byte, error) {
	name := blobName(hash, r.seq)
	buf, err := b.fs.ReadFile(name, r.size, buf)
	if err != nil {
		if errors.Is(err, errBlobSize) {
			return nil, fmt.Errorf("storage: blob %s: %w: %w", name, ErrCorrupt, err)
		}
		return nil, fmt.Errorf("storage: blob %s: %w", name, err)
	}
	if got := binary.BigEndian.Uint32(buf[len(buf)-crcSize:]); got != r.crc {
		return nil, fmt.Errorf("storage: blob %s: %w: ends with CRC %#08x, the pointer says %#08x", name, ErrCorrupt, got, r.crc)
	}
	return buf, nil
}

// beginRead registers a scan about to take its snapshot; the caller passes
// the result to endRead when the scan ends.
func (b *blobStore) beginRead() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.readers[b.epoch]++
	return b.epoch
}

// endRead ends a scan registered by beginRead and removes the files no
// scan may read any more.
func (b *blobStore) endRead(epoch uint64) {
	b.mu.Lock()
	if b.readers[epoch]--; b.readers[epoch] == 0 {
		delete(b.readers, epoch)
	}
	free := b.freeLocked()
	b.mu.Unlock()
	b.remove(free)
}

// release removes the file of hash and r, which no stored pointer names
// any more (the write that replaced it is durable), once the scans that
// may still read it have ended.
func (b *blobStore) release(hash uint64, r blobRef) {
	b.mu.Lock()
	b.doomed = append(b.doomed, doomedBlob{name: blobName(hash, r.seq), epoch: b.epoch})
	b.epoch++
	free := b.freeLocked()
	b.mu.Unlock()
	b.remove(free)
}

// freeLocked takes from doomed the files no running scan may read.
func (b *blobStore) freeLocked() []string {
	oldest := uint64(math.MaxUint64)
	for e := range b.readers {
		oldest = min(oldest, e)
	}
	var free []string
	kept := b.doomed[:0]
	for _, d := range b.doomed {
		if d.epoch < oldest {
			free = append(free, d.name)
		} else {
			kept = append(kept, d)
		}
	}
	clear(b.doomed[len(kept):])
	b.doomed = kept
	return free
}

// remove removes files. A file that cannot be removed stays until the next
// sweep: no pointer names it.
func (b *blobStore) remove(names []string) {
	for _, name := range names {
		_ = b.fs.Remove(name)
	}
}
