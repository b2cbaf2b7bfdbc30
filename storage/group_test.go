package storage_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	lvstorage "github.com/syndtr/goleveldb/leveldb/storage"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/storage/faulty"
)

// burst runs n unsynced Puts at once, key prefix-i with value v-i, and
// returns their errors.
func burst(l *storage.LevelDB, prefix string, n int) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = l.Put(fmt.Appendf(nil, "%s-%d", prefix, i), fmt.Appendf(nil, "v-%d", i), false)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// TestLevelDB_groupCommit: concurrent unsynced Puts are written together
// (fewer batches than Puts), each returns once its batch is written, and
// every one is there, also after a restart replays the journal.
func TestLevelDB_groupCommit(t *testing.T) {
	mem := lvstorage.NewMemStorage()
	l, err := storage.OpenLevelDBStorage(mem, fastReopen)
	if err != nil {
		t.Fatal(err)
	}
	const n = 64
	rounds := 0
	for rounds < 20 {
		for i, err := range burst(l, fmt.Sprint("r", rounds), n) {
			if err != nil {
				t.Fatalf("round %d: Put %d = %v", rounds, i, err)
			}
		}
		rounds++
		if groups, puts := storage.GroupCommits(l); groups < puts {
			break
		}
	}
	groups, puts := storage.GroupCommits(l)
	if puts != int64(rounds*n) || groups >= puts {
		t.Fatalf("%d Puts in %d batches after %d bursts of %d: want every Put counted and some written together", puts, groups, rounds, n)
	}
	t.Logf("%d Puts in %d batches", puts, groups)
	check := func(l *storage.LevelDB) {
		t.Helper()
		for r := range rounds {
			for i := range n {
				v, err := l.Get(fmt.Appendf(nil, "r%d-%d", r, i))
				if err != nil || string(v) != fmt.Sprint("v-", i) {
					t.Fatalf("r%d-%d = %q, %v", r, i, v, err)
				}
			}
		}
	}
	check(l)
	l = restart(t, l, mem)
	defer l.Close()
	check(l)
}

// restart closes l and opens its storage again, as a restart does: what
// is there after was made durable by the journal.
func restart(t *testing.T, l *storage.LevelDB, mem lvstorage.Storage) *storage.LevelDB {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := storage.OpenLevelDBStorage(mem, fastReopen)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestLevelDB_groupCommitFails: when the batch's write fails, every Put in
// it fails with ErrWriteFailed and none of them is stored.
func TestLevelDB_groupCommitFails(t *testing.T) {
	mem := lvstorage.NewMemStorage()
	fs := faulty.NewStorage(mem, faulty.Config{FailAt: openOps(t, fastReopen), Sticky: true})
	l, err := storage.OpenLevelDBStorage(fs, fastReopen)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 32
	for i, err := range burst(l, "k", n) {
		if !errors.Is(err, storage.ErrWriteFailed) {
			t.Fatalf("Put %d = %v, want ErrWriteFailed", i, err)
		}
	}
	for i := range n {
		if v, err := l.Get(fmt.Appendf(nil, "k-%d", i)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("k-%d after a failed write = %q, %v; want not found", i, v, err)
		}
	}
}
