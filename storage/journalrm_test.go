package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	lvstorage "github.com/syndtr/goleveldb/leveldb/storage"
)

// holdRemovals is a goleveldb storage whose journal removals wait until
// release is closed (tables and other files go at once). It records the
// removals and Close in the order they completed, and what was logged.
type holdRemovals struct {
	lvstorage.Storage
	release chan struct{}
	fail    map[int64]error // journal number -> error its removal returns

	mu     sync.Mutex
	events []string
	logs   []string
}

func newHoldRemovals(s lvstorage.Storage) *holdRemovals {
	return &holdRemovals{Storage: s, release: make(chan struct{}), fail: map[int64]error{}}
}

func (h *holdRemovals) Remove(fd lvstorage.FileDesc) error {
	if fd.Type == lvstorage.TypeJournal {
		<-h.release
		if err := h.fail[fd.Num]; err != nil {
			return err
		}
	}
	err := h.Storage.Remove(fd)
	h.record(fmt.Sprintf("remove %s", fd))
	return err
}

func (h *holdRemovals) Close() error {
	h.record("close")
	return h.Storage.Close()
}

func (h *holdRemovals) Log(s string) {
	h.mu.Lock()
	h.logs = append(h.logs, s)
	h.mu.Unlock()
	h.Storage.Log(s)
}

func (h *holdRemovals) record(e string) {
	h.mu.Lock()
	h.events = append(h.events, e)
	h.mu.Unlock()
}

func (h *holdRemovals) snapshot() (events, logs []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events), slices.Clone(h.logs)
}

// createFile makes an empty file of fd in s.
func createFile(t *testing.T, s lvstorage.Storage, fd lvstorage.FileDesc) {
	t.Helper()
	w, err := s.Create(fd)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// returnsWithin fails the test unless f returns within 10 s; a journal
// removal that waited for the held one would never return.
func returnsWithin(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return: it waits for the removal", what)
		return nil
	}
}

// TestJournalRemover: a journal's removal returns before the file is
// removed, tables are removed before Remove returns, Close removes what is
// queued before it closes the storage beneath, and a removal after Close
// is refused.
func TestJournalRemover(t *testing.T) {
	h := newHoldRemovals(lvstorage.NewMemStorage())
	r := newJournalRemover(h)
	j3 := lvstorage.FileDesc{Type: lvstorage.TypeJournal, Num: 3}
	j5 := lvstorage.FileDesc{Type: lvstorage.TypeJournal, Num: 5}
	table := lvstorage.FileDesc{Type: lvstorage.TypeTable, Num: 4}
	for _, fd := range []lvstorage.FileDesc{j3, j5, table} {
		createFile(t, h, fd)
	}

	for _, fd := range []lvstorage.FileDesc{j3, j5} {
		if err := returnsWithin(t, "Remove("+fd.String()+")", func() error { return r.Remove(fd) }); err != nil {
			t.Fatalf("Remove(%s): %v", fd, err)
		}
	}
	if err := r.Remove(table); err != nil {
		t.Fatalf("Remove(%s): %v", table, err)
	}
	if events, _ := h.snapshot(); !slices.Equal(events, []string{"remove " + table.String()}) {
		t.Fatalf("before the release: %q, want only the table removed", events)
	}
	if fds, _ := h.List(lvstorage.TypeJournal); len(fds) != 2 {
		t.Fatalf("journals before the release: %v, want both", fds)
	}

	close(h.release)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	events, logs := h.snapshot()
	want := []string{"remove " + table.String(), "remove " + j3.String(), "remove " + j5.String(), "close"}
	if !slices.Equal(events, want) {
		t.Errorf("events %q, want %q", events, want)
	}
	if len(logs) != 0 {
		t.Errorf("logged %q, want nothing", logs)
	}
	if err := r.Remove(lvstorage.FileDesc{Type: lvstorage.TypeJournal, Num: 9}); !errors.Is(err, lvstorage.ErrClosed) {
		t.Errorf("Remove after Close: %v, want ErrClosed", err)
	}
}

// TestJournalRemover_errors: a failed removal goes to goleveldb's log;
// a journal that is gone already (opening may ask again for one still
// queued) is not an error.
func TestJournalRemover_errors(t *testing.T) {
	h := newHoldRemovals(lvstorage.NewMemStorage())
	h.fail[7] = errors.New("disk on fire")
	close(h.release)
	r := newJournalRemover(h)
	for _, n := range []int64{6, 7} { // 6 was never created
		if err := r.Remove(lvstorage.FileDesc{Type: lvstorage.TypeJournal, Num: n}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	_, logs := h.snapshot()
	if len(logs) != 1 || !strings.Contains(logs[0], "@7") || !strings.Contains(logs[0], "disk on fire") {
		t.Errorf("logged %q, want one line about journal 7's error", logs)
	}
}

// TestLevelDB_journalRemovedLate: while the removal of flushed journals
// is held, writes go on, and a copy of the directory taken then (what a
// crash would leave: obsolete journals beside the live one) opens with
// every write, replays none of the obsolete journals over newer writes,
// and removes them.
func TestLevelDB_journalRemovedLate(t *testing.T) {
	dir := t.TempDir()
	fstor, err := lvstorage.OpenFile(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	h := newHoldRemovals(fstor)
	released := false
	release := func() {
		if !released {
			released = true
			close(h.release)
		}
	}
	o := LevelDBOptions{WriteBufferSize: 64 << 10}
	db, err := OpenLevelDBStorage(h, o)
	if err != nil {
		release()
		t.Fatal(err)
	}
	defer func() {
		release() // first: Close waits for the calls in progress
		db.Close()
	}()

	value := func(round, i int) []byte {
		return []byte(fmt.Sprintf("round %d key %d %s", round, i, strings.Repeat("x", 900)))
	}
	// Three rounds over the same 200 keys (about 200 KiB each) rotate the
	// 64 KiB memtable several times; the last round deletes every fifth
	// key, so that a replayed older journal would bring values back.
	for round := range 3 {
		for i := range 200 {
			key := []byte(fmt.Sprintf("k%03d", i))
			if round == 2 && i%5 == 0 {
				err = returnsWithin(t, "Delete", func() error { return db.Delete(key, false) })
			} else {
				err = returnsWithin(t, "Put", func() error { return db.Put(key, value(round, i), false) })
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	journals, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(journals) < 2 {
		t.Fatalf("journals %v: want flushed ones still there while their removal is held", journals)
	}

	crash := t.TempDir()
	copyDir(t, dir, crash)
	copied, err := OpenLevelDB(crash, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		got, err := copied.Get([]byte(fmt.Sprintf("k%03d", i)))
		switch {
		case i%5 == 0:
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("k%03d: %q, %v; want it deleted", i, got, err)
			}
		case err != nil || string(got) != string(value(2, i)):
			t.Errorf("k%03d: %.20q, %v; want the last round's value", i, got, err)
		}
	}
	if err := copied.Close(); err != nil {
		t.Fatal(err)
	}
	left, err := filepath.Glob(filepath.Join(crash, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 {
		t.Errorf("journals after opening the copy: %v, want only the live one", left)
	}

	// Released, every journal goleveldb removed is gone once Close
	// returns (the live one stays, and a flush that Close cut short keeps
	// its journal too).
	release()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	events, _ := h.snapshot()
	removed := 0
	for _, e := range events {
		name, ok := strings.CutPrefix(e, "remove ")
		if !ok || !strings.HasSuffix(name, ".log") {
			continue
		}
		removed++
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v after its removal, want it gone", name, err)
		}
	}
	// Of the journals listed while held, one was live and one may have
	// been a memtable's still being flushed.
	if flushed := len(journals) - 2; removed < max(flushed, 1) {
		t.Errorf("%d journals removed after Close, want the %d flushed ones at least", removed, max(flushed, 1))
	}
}

// copyDir copies the regular files of src into dst, skipping goleveldb's
// lock file (held by the open database).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
