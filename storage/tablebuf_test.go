package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"testing"

	lvstorage "github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// TestTableBuffered_tablesOnly: table files go through the buffer and end
// up byte for byte as written once closed; other files are the storage's
// own writers.
func TestTableBuffered_tablesOnly(t *testing.T) {
	mem := lvstorage.NewMemStorage()
	s := tableBuffered{mem}

	table := lvstorage.FileDesc{Type: lvstorage.TypeTable, Num: 7}
	w, err := s.Create(table)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := w.(*bufferedTable); !ok {
		t.Fatalf("table writer is %T, want *bufferedTable", w)
	}
	var want bytes.Buffer
	for i := range 300 { // 300 blocks of 4 KiB: several buffer loads
		block := bytes.Repeat([]byte{byte(i)}, 4096)
		want.Write(block)
		if _, err := w.Write(block); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("late")); !errors.Is(err, lvstorage.ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if got := readAll(t, mem, table); !bytes.Equal(got, want.Bytes()) {
		t.Errorf("table holds %d bytes, want the %d written", len(got), want.Len())
	}

	for _, typ := range []lvstorage.FileType{lvstorage.TypeJournal, lvstorage.TypeManifest, lvstorage.TypeTemp} {
		w, err := s.Create(lvstorage.FileDesc{Type: typ, Num: 8})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := w.(*bufferedTable); ok {
			t.Errorf("%v file is buffered; only tables are", typ)
		}
		w.Close()
	}
}

func readAll(t *testing.T, s lvstorage.Storage, fd lvstorage.FileDesc) []byte {
	t.Helper()
	r, err := s.Open(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// failingWriter fails every Write.
type failingWriter struct{ closed bool }

var errDisk = errors.New("disk full")

func (f *failingWriter) Write([]byte) (int, error) { return 0, errDisk }
func (f *failingWriter) Sync() error               { return nil }
func (f *failingWriter) Close() error {
	if f.closed {
		return lvstorage.ErrClosed // as goleveldb's file storage answers
	}
	f.closed = true
	return nil
}

// TestBufferedTable_errorSurfaces: a write the file refuses is reported by
// Sync and by Close, which goleveldb both checks before it uses a table,
// and Close still closes the file.
func TestBufferedTable_errorSurfaces(t *testing.T) {
	for _, end := range []string{"sync", "close"} {
		t.Run(end, func(t *testing.T) {
			f := &failingWriter{}
			w := newBufferedTable(f)
			if _, err := w.Write(make([]byte, 4096)); err != nil {
				t.Fatalf("buffered Write: %v", err) // not written yet
			}
			var err error
			if end == "sync" {
				err = w.Sync()
			} else {
				err = w.Close()
			}
			if !errors.Is(err, errDisk) {
				t.Errorf("%s: %v, want the file's write error", end, err)
			}
			if end == "sync" {
				if err := w.Close(); !errors.Is(err, errDisk) {
					t.Errorf("close after failed sync: %v, want the write error again", err)
				}
			}
			if !f.closed {
				t.Error("file not closed")
			}
			// goleveldb closes once more before it removes a table whose
			// Close failed, and skips the removal if that fails too.
			if err := w.Close(); err != nil {
				t.Errorf("a further Close: %v, want nil", err)
			}
		})
	}
}

// TestLevelDB_tablesReadBack: a database whose memtable is flushed and
// compacted many times (tables written through the buffer) reads every
// key back, before and after a restart.
func TestLevelDB_tablesReadBack(t *testing.T) {
	mem := lvstorage.NewMemStorage()
	o := LevelDBOptions{WriteBufferSize: 64 << 10, TableSize: 32 << 10}
	l, err := OpenLevelDBStorage(mem, o)
	if err != nil {
		t.Fatal(err)
	}
	val := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprint(i%10)), 700) }
	const n = 2000 // 1.4 MB: about twenty flushes, then compactions
	for i := range n {
		if err := l.Put([]byte(fmt.Sprintf("k%05d", i)), val(i), false); err != nil {
			t.Fatal(err)
		}
	}
	check := func(l *LevelDB) {
		t.Helper()
		for i := range n {
			got, err := l.Get([]byte(fmt.Sprintf("k%05d", i)))
			if err != nil || !bytes.Equal(got, val(i)) {
				t.Fatalf("key %d: %d bytes, %v", i, len(got), err)
			}
		}
	}
	check(l)
	if err := l.db.Load().CompactRange(util.Range{}); err != nil {
		t.Fatal(err)
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fds, err := mem.List(lvstorage.TypeTable)
	if err != nil || len(fds) < 2 {
		t.Fatalf("%d table files (%v): the test wrote too little to flush", len(fds), err)
	}
	l, err = OpenLevelDBStorage(mem, o)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	check(l)
}

// TestTableBuffered_yields: on one processor, a goroutine made ready
// while a 1 MiB table is written, or read block by block, runs before
// half of it is done (tableYieldBytes is 64 KiB); without the yields it
// would wait until the table was done (or for a preemption, 10 ms away:
// the whole table takes well under that).
func TestTableBuffered_yields(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	mem := lvstorage.NewMemStorage()
	s := tableBuffered{mem}
	table := lvstorage.FileDesc{Type: lvstorage.TypeTable, Num: 3}
	const blocks = 256 // 1 MiB of 4 KiB blocks
	block := make([]byte, 4096)

	// done counts the bytes handled; waiter records it when it runs.
	run := func(name string, step func(i int) error) {
		var done, seen atomic.Int64
		seen.Store(-1)
		ran := make(chan struct{})
		go func() { seen.Store(done.Load()); close(ran) }()
		for i := range blocks {
			if err := step(i); err != nil {
				t.Fatal(err)
			}
			done.Add(int64(len(block)))
		}
		<-ran
		if got, half := seen.Load(), int64(blocks*len(block)/2); got < 0 || got > half {
			t.Errorf("%s: the waiting goroutine ran after %d of %d bytes, want within %d", name, got, 2*half, half)
		}
	}

	// The table written goes nowhere, so that the loop allocates nothing:
	// a collection it started would let the waiting goroutine run.
	dw := newBufferedTable(discardWriter{})
	run("write", func(int) error { _, err := dw.Write(block); return err })
	if err := dw.Close(); err != nil {
		t.Fatal(err)
	}
	w, err := s.Create(table)
	if err != nil {
		t.Fatal(err)
	}
	for range blocks {
		if _, err := w.Write(block); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	r, err := s.Open(table)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok := r.(*yieldingTable); !ok {
		t.Fatalf("table reader is %T, want *yieldingTable", r)
	}
	run("read", func(i int) error { _, err := r.ReadAt(block, int64(i*len(block))); return err })

	other := lvstorage.FileDesc{Type: lvstorage.TypeJournal, Num: 4}
	createFile(t, mem, other)
	if r, err := s.Open(other); err != nil {
		t.Fatal(err)
	} else if _, ok := r.(*yieldingTable); ok {
		t.Error("a journal reader yields; only tables do")
	} else {
		r.Close()
	}
}

// discardWriter is a table file that keeps nothing.
type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) Sync() error                 { return nil }
func (discardWriter) Close() error                { return nil }
