package storage

import (
	"fmt"
	"testing"
	"time"

	lvstorage "github.com/syndtr/goleveldb/leveldb/storage"
)

// TestLevelDB_engineStats: every write into goleveldb is counted and timed
// (a synced Put, a Delete, a batch Write and each group commit of unsynced
// Puts), and level 0's tables show once a memtable is flushed; a write
// that took SlowWrite or more counts as slow. The in-memory engine keeps
// no figures.
func TestLevelDB_engineStats(t *testing.T) {
	l, err := OpenLevelDBStorage(lvstorage.NewMemStorage(), LevelDBOptions{WriteBufferSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	s, err := NewStore(l)
	if err != nil {
		t.Fatal(err)
	}
	before, ok := s.EngineStats()
	if !ok {
		t.Fatal("LevelDB reports no engine stats")
	}
	if err := l.Put([]byte("a"), []byte("1"), true); err != nil {
		t.Fatal(err)
	}
	if err := l.Delete([]byte("a"), false); err != nil {
		t.Fatal(err)
	}
	var b Batch
	b.Put([]byte("b"), []byte("2"))
	b.Put([]byte("c"), []byte("3"))
	if err := l.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	// Sequential unsynced Puts: one group commit each. 200 of 1 KiB fill
	// the 64 KiB memtable about three times.
	value := make([]byte, 1024)
	for i := range 200 {
		if err := l.Put(fmt.Appendf(nil, "k%03d", i), value, false); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := s.EngineStats()
	if got := st.Writes - before.Writes; got != 203 {
		t.Errorf("Writes grew by %d, want 203 (a synced Put, a Delete, a Write, 200 group commits)", got)
	}
	if st.WriteTime <= before.WriteTime {
		t.Errorf("WriteTime %v -> %v after 203 writes", before.WriteTime, st.WriteTime)
	}
	for end := time.Now().Add(5 * time.Second); st.Level0Tables == 0; st, _ = s.EngineStats() {
		if time.Now().After(end) {
			t.Fatalf("no level-0 table 5 s after writing 200 KiB through a 64 KiB memtable: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}

	var w writeStats
	w.observe(time.Now())
	w.observe(time.Now().Add(-SlowWrite))
	if w.n.Load() != 2 || w.slow.Load() != 1 || time.Duration(w.ns.Load()) < SlowWrite {
		t.Errorf("a quick and a slow write: n %d slow %d time %v", w.n.Load(), w.slow.Load(), time.Duration(w.ns.Load()))
	}

	m, err := NewStore(NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.EngineStats(); ok {
		t.Error("the in-memory engine reports engine stats")
	}
}
