package storage

import (
	"bufio"
	"sync"

	lvstorage "github.com/syndtr/goleveldb/leveldb/storage"
)

// tableWriteBuffer is how much of a table file goleveldb writes is
// gathered before it goes to the file. 64 KiB measured better than
// 256 KiB (BenchmarkReplicaWorkload at 300 000 keys: the larger buffer
// cost more system time than unbuffered writes, the smaller one less).
const tableWriteBuffer = 64 << 10

// tableBuffered wraps goleveldb's storage so that table files (memtable
// flushes and compactions) are written through a buffer. goleveldb's table
// writer hands each block (4 KiB) to the file as it is finished: one write
// system call per block, 512 of them for a 2 MiB table, a measurable share
// of a node's CPU while it flushes and compacts. Buffered, a 2 MiB table
// takes 32. Journals, manifests and reads are untouched.
//
// goleveldb syncs a table (when it syncs) and closes it before it lists it
// in the manifest, so a table is never used before its buffer is written;
// a write error surfaces at Sync or Close instead of at the Write, and
// goleveldb checks both.
type tableBuffered struct {
	lvstorage.Storage
}

func (s tableBuffered) Create(fd lvstorage.FileDesc) (lvstorage.Writer, error) {
	w, err := s.Storage.Create(fd)
	if err != nil || fd.Type != lvstorage.TypeTable {
		return w, err
	}
	return newBufferedTable(w), nil
}

func newBufferedTable(w lvstorage.Writer) *bufferedTable {
	b := tableBufs.Get().(*bufio.Writer)
	b.Reset(w)
	return &bufferedTable{w: w, b: b}
}

var tableBufs = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, tableWriteBuffer) }}

// bufferedTable is one table file being written; goleveldb writes a table
// from one goroutine.
type bufferedTable struct {
	w lvstorage.Writer
	b *bufio.Writer // nil once closed
}

func (t *bufferedTable) Write(p []byte) (int, error) {
	if t.b == nil {
		return 0, lvstorage.ErrClosed
	}
	return t.b.Write(p)
}

func (t *bufferedTable) Sync() error {
	if t.b == nil {
		return lvstorage.ErrClosed
	}
	if err := t.b.Flush(); err != nil {
		return err
	}
	return t.w.Sync()
}

func (t *bufferedTable) Close() error {
	if t.b == nil {
		// Closed already. goleveldb closes again after a failed Close
		// (a flush that failed, say on a full disk) before it removes
		// the file, and gives up on the removal if this Close fails.
		return nil
	}
	err := t.b.Flush()
	t.b.Reset(nil)
	tableBufs.Put(t.b)
	t.b = nil
	if cerr := t.w.Close(); err == nil {
		err = cerr
	}
	return err
}
