package storage

import (
	"bufio"
	"runtime"
	"sync"
	"sync/atomic"

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
// takes 32. Journals and manifests are untouched.
//
// goleveldb syncs a table (when it syncs) and closes it before it lists it
// in the manifest, so a table is never used before its buffer is written;
// a write error surfaces at Sync or Close instead of at the Write, and
// goleveldb checks both.
//
// The goroutine that writes a table, or reads tables for a compaction,
// also yields its processor (runtime.Gosched) every tableYieldBytes. A
// memtable flush or a compaction is one goroutine that computes for up to
// a second without blocking (table blocks come from and go to the page
// cache). Goroutines made ready on its processor (a group commit's
// writers, a request's handler) waited behind it until the scheduler
// preempted it, 10 ms later, or until the other processor ran idle and
// stole them: when a flush began, every write of the node stalled for
// 10–20 ms (BenchmarkWriteStalls; docs/benchmarks.md). Yielding every
// 64 KiB, a fraction of a millisecond of table work, lets them run
// first; the flush keeps its share of the processor.
type tableBuffered struct {
	lvstorage.Storage
}

// tableYieldBytes is how many bytes of tables a goroutine writes, or all
// goroutines read from one table, between two yields.
const tableYieldBytes = 64 << 10

func (s tableBuffered) Create(fd lvstorage.FileDesc) (lvstorage.Writer, error) {
	w, err := s.Storage.Create(fd)
	if err != nil || fd.Type != lvstorage.TypeTable {
		return w, err
	}
	return newBufferedTable(w), nil
}

func (s tableBuffered) Open(fd lvstorage.FileDesc) (lvstorage.Reader, error) {
	r, err := s.Storage.Open(fd)
	if err != nil || fd.Type != lvstorage.TypeTable {
		return r, err
	}
	return &yieldingTable{Reader: r}, nil
}

// yieldingTable is a table file open for reading. goleveldb shares one
// among every reader of the table (point reads, iterators, compactions),
// so the count of bytes read since the last yield is shared too: whoever
// crosses tableYieldBytes yields, which is nearly always the compaction
// that reads the table from end to end.
type yieldingTable struct {
	lvstorage.Reader
	unyielded atomic.Int64
}

func (t *yieldingTable) ReadAt(p []byte, off int64) (int, error) {
	n, err := t.Reader.ReadAt(p, off)
	t.read(n)
	return n, err
}

func (t *yieldingTable) Read(p []byte) (int, error) {
	n, err := t.Reader.Read(p)
	t.read(n)
	return n, err
}

// read counts n bytes read and yields once tableYieldBytes add up.
func (t *yieldingTable) read(n int) {
	if t.unyielded.Add(int64(n)) >= tableYieldBytes {
		t.unyielded.Store(0)
		runtime.Gosched()
	}
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
	// unyielded counts the bytes written since the writer last yielded.
	unyielded int
}

func (t *bufferedTable) Write(p []byte) (int, error) {
	if t.b == nil {
		return 0, lvstorage.ErrClosed
	}
	n, err := t.b.Write(p)
	if t.unyielded += n; t.unyielded >= tableYieldBytes {
		t.unyielded = 0
		runtime.Gosched()
	}
	return n, err
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
