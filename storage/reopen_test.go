package storage_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	lvstorage "github.com/syndtr/goleveldb/leveldb/storage"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/storage/faulty"
	"github.com/dynamod/dynamod/versioning"
)

// fastReopen reopens within milliseconds, so that tests need not wait.
var fastReopen = storage.LevelDBOptions{
	WriteBufferSize: 1 << 20, BlockCacheSize: 1 << 20,
	ReopenBackoff: 5 * time.Millisecond, ReopenMaxBackoff: 20 * time.Millisecond,
}

// openOps counts the file operations of creating a database with opts, so
// that a fault can be placed on the first write after it.
func openOps(t *testing.T, opts storage.LevelDBOptions) int {
	t.Helper()
	probe := faulty.NewStorage(lvstorage.NewMemStorage(), faulty.Config{FailAt: -1})
	l, err := storage.OpenLevelDBStorage(probe, opts)
	if err != nil {
		t.Fatal(err)
	}
	n := probe.Ops()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func isInjected(err error) bool {
	return errors.Is(err, faulty.ErrInjected) || (err != nil && strings.Contains(err.Error(), faulty.ErrInjected.Error()))
}

// TestLevelDB_reopensAfterWriteError: a write error (here every file
// mutation fails from the first write on, as on a full disk) stops writes;
// reads go on, also while reopening keeps failing; once the disk takes
// writes again a reopen brings them back without a restart, and every
// acknowledged write is still there, also after a real restart.
func TestLevelDB_reopensAfterWriteError(t *testing.T) {
	mem := lvstorage.NewMemStorage()
	fs := faulty.NewStorage(mem, faulty.Config{FailAt: openOps(t, fastReopen), Sticky: true})
	l, err := storage.OpenLevelDBStorage(fs, fastReopen)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if h := l.Health(); !h.Writable || !h.Readable || h.Err() != nil {
		t.Fatalf("Health of a new engine = %+v", h)
	}

	err = l.Put([]byte("a"), []byte("1"), true)
	if !isInjected(err) || !errors.Is(err, storage.ErrWriteFailed) {
		t.Fatalf("first Put = %v, want the injected error wrapped in ErrWriteFailed", err)
	}
	h := l.Health()
	if h.Writable || !strings.Contains(h.Error, faulty.ErrInjected.Error()) || h.Since.IsZero() {
		t.Fatalf("Health after a write error = %+v, want not writable, with the cause and a time", h)
	}
	if err := h.Err(); err == nil || !strings.Contains(err.Error(), "storage refuses writes") || !strings.Contains(err.Error(), faulty.ErrInjected.Error()) {
		t.Fatalf("Health.Err() = %v, want the refusal and its cause", err)
	}

	// Reopening fails while the disk does (every write is injected to
	// fail), and writes stay refused; reads are served meanwhile.
	waitFor(t, "two failed reopens", func() bool { return l.Health().ReopenAttempts >= 2 })
	h = l.Health()
	if h.Writable || !h.Readable || h.LastReopenError == "" || h.NextReopen.IsZero() || h.Reopens != 0 {
		t.Fatalf("Health while reopening fails = %+v", h)
	}
	for range 3 {
		err := l.Put([]byte("b"), []byte("2"), true)
		if !errors.Is(err, storage.ErrWriteFailed) || !strings.Contains(err.Error(), "earlier write error") {
			t.Fatalf("Put while failed = %v, want a refusal wrapping ErrWriteFailed", err)
		}
		var b storage.Batch
		b.Put([]byte("c"), nil)
		if err := l.Write(&b, false); !errors.Is(err, storage.ErrWriteFailed) {
			t.Fatalf("Write while failed = %v", err)
		}
		if err := l.Delete([]byte("c"), false); !errors.Is(err, storage.ErrWriteFailed) {
			t.Fatalf("Delete while failed = %v", err)
		}
		if _, err := l.Get([]byte("b")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Get while failed = %v, want ErrNotFound", err)
		}
		if err := l.Scan(nil, nil, func(k, v []byte) error { return nil }); err != nil {
			t.Fatalf("Scan while failed = %v", err)
		}
		time.Sleep(10 * time.Millisecond) // across reopen attempts
	}

	fs.Heal()
	waitFor(t, "writes taken again", func() bool { return l.Health().Writable })
	if h := l.Health(); h.Reopens != 1 || h.Error != "" || h.ReopenAttempts != 0 || !h.NextReopen.IsZero() || h.Err() != nil {
		t.Fatalf("Health after recovery = %+v", h)
	}
	acked := map[string]string{}
	for i := range 50 {
		k, v := fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i)
		if err := l.Put([]byte(k), []byte(v), i%2 == 0); err != nil {
			t.Fatalf("Put after recovery: %v", err)
		}
		acked[k] = v
	}
	for k, v := range acked {
		if got, err := l.Get([]byte(k)); err != nil || string(got) != v {
			t.Fatalf("Get(%s) = %q, %v", k, got, err)
		}
	}
	l = restart(t, l, mem)
	defer l.Close()
	for k, v := range acked {
		if got, err := l.Get([]byte(k)); err != nil || string(got) != v {
			t.Fatalf("after restart, Get(%s) = %q, %v", k, got, err)
		}
	}
}

// TestLevelDB_reopenLosesNoAckedWrite sweeps a single write fault over a
// run of synced writes: whichever write fails, every write acknowledged
// before it, and every one acknowledged after the engine took writes
// again, survives a restart.
func TestLevelDB_reopenLosesNoAckedWrite(t *testing.T) {
	base := openOps(t, fastReopen)
	for i := base; i < base+40; i++ {
		mem := lvstorage.NewMemStorage()
		fs := faulty.NewStorage(mem, faulty.Config{FailAt: i})
		l, err := storage.OpenLevelDBStorage(fs, fastReopen)
		if err != nil {
			t.Fatal(err)
		}
		acked := map[string]string{}
		for j := range 40 {
			k, v := fmt.Sprintf("key%02d", j), fmt.Sprintf("value %d %d", i, j)
			var err error
			for range 1000 { // retry a refused write until the engine is back
				if err = l.Put([]byte(k), []byte(v), true); err == nil || !strings.Contains(err.Error(), "earlier write error") {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if err == nil {
				acked[k] = v
			} else if !isInjected(err) {
				t.Fatalf("i=%d: Put %s: %v", i, k, err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatalf("i=%d: Close: %v", i, err)
		}
		if fs.Injected() > 0 && len(acked) < 35 {
			t.Fatalf("i=%d: only %d of 40 writes acknowledged: the engine did not take writes again", i, len(acked))
		}
		l, err = storage.OpenLevelDBStorage(mem, fastReopen)
		if err != nil {
			t.Fatalf("i=%d: restart: %v", i, err)
		}
		for k, v := range acked {
			if got, err := l.Get([]byte(k)); err != nil || string(got) != v {
				t.Fatalf("i=%d: acknowledged %s = %q lost: got %q, %v", i, k, v, got, err)
			}
		}
		l.Close()
	}
}

// TestLevelDB_reopenWaitsForCalls: a reopen waits for calls in progress
// (for a bounded time, then retries), a call made from a scan's callback
// while a reopen is pending goes through, and the engine recovers once the
// scan ends.
func TestLevelDB_reopenWaitsForCalls(t *testing.T) {
	t.Cleanup(storage.SetReopenDrainTimeout(30 * time.Millisecond))
	fs := faulty.NewStorage(lvstorage.NewMemStorage(), faulty.Config{FailAt: openOps(t, fastReopen) + 5, Sticky: true})
	l, err := storage.OpenLevelDBStorage(fs, fastReopen)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	acked := 0
	for i := range 100 {
		if err := l.Put(fmt.Appendf(nil, "k%02d", i), []byte("v"), false); err != nil {
			break
		}
		acked++
	}
	if acked == 0 || acked == 100 {
		t.Fatalf("%d writes acknowledged before the fault, want some but not all", acked)
	}
	var seen int
	var inner error
	var during storage.Health
	err = l.Scan(nil, nil, func(k, v []byte) error {
		if seen == 0 {
			// Only this scan keeps the reopen from succeeding now.
			fs.Heal()
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(l.Health().LastReopenError, "calls in progress") && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			during = l.Health()
			// Possibly during the next pause: waits for it to give up.
			_, inner = l.Get([]byte("k00"))
		}
		seen++
		return nil
	})
	if err != nil || inner != nil || seen != acked {
		t.Fatalf("scan = %v, Get in its callback = %v, %d keys; want nil, nil, %d", err, inner, seen, acked)
	}
	if during.Writable || !strings.Contains(during.LastReopenError, "calls in progress") {
		t.Fatalf("Health during the scan = %+v, want a reopen that gave up on calls in progress", during)
	}
	waitFor(t, "writes taken after the scan", func() bool { return l.Health().Writable })
	if err := l.Put([]byte("after"), []byte("x"), true); err != nil {
		t.Fatal(err)
	}
}

// TestLevelDB_closeEndsReopen: Close ends the reopen loop, whether it
// waits for its backoff or keeps failing, and leaves no goroutine behind.
func TestLevelDB_closeEndsReopen(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, opts := range []storage.LevelDBOptions{
		fastReopen,
		{WriteBufferSize: 1 << 20, ReopenBackoff: time.Hour},
	} {
		fs := faulty.NewStorage(lvstorage.NewMemStorage(), faulty.Config{FailAt: openOps(t, opts), Sticky: true})
		l, err := storage.OpenLevelDBStorage(fs, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Put([]byte("a"), []byte("1"), true); err == nil {
			t.Fatal("Put succeeded")
		}
		if opts.ReopenBackoff < time.Second {
			waitFor(t, "a failed reopen", func() bool { return l.Health().ReopenAttempts >= 1 })
		}
		done := make(chan error, 1)
		go func() { done <- l.Close() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not return while reopening")
		}
		if _, err := l.Get([]byte("a")); !errors.Is(err, storage.ErrClosed) {
			t.Fatalf("Get after Close = %v", err)
		}
		if h := l.Health(); h.Writable || !h.NextReopen.IsZero() {
			t.Fatalf("Health after Close = %+v, want failed with no reopen planned", h)
		}
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// TestStore_healthAndRecount: the Store reports its engine's health and
// every change of it, in order, and recounts its hints once writes are
// back. The fault is on the fsync of a hint's journal write: the hint is
// not counted, yet replaying the journal keeps it.
func TestStore_healthAndRecount(t *testing.T) {
	mem := lvstorage.NewMemStorage()
	fs := faulty.NewStorage(mem, faulty.Config{FailAt: openOps(t, fastReopen) + 1})
	l, err := storage.OpenLevelDBStorage(fs, fastReopen)
	if err != nil {
		t.Fatal(err)
	}
	s, err := storage.NewStore(l)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	var seen []storage.Health
	s.OnHealthChange(func(h storage.Health) {
		mu.Lock()
		seen = append(seen, h)
		mu.Unlock()
	})
	if h := s.Health(); !h.Writable {
		t.Fatalf("Health = %+v", h)
	}
	k := storage.Key{Hash: 7, Bucket: "b", Key: "k"}
	if err := s.PutHint("n2", k, true); !errors.Is(err, storage.ErrWriteFailed) || !isInjected(err) {
		t.Fatalf("PutHint = %v, want the injected failure", err)
	}
	if n := s.HintCount(); n != 0 {
		t.Fatalf("HintCount after a failed PutHint = %d", n)
	}
	// Wait for the notification of the reopen, not for Health: the engine
	// takes writes before the Store's observer has recounted the hints
	// (it recounts, then notifies).
	waitFor(t, "the reopen notified", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) > 0 && seen[len(seen)-1].Writable
	})
	stored := 0
	if err := s.Hints("", func(string, storage.Key) error { stored++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n := s.HintCount(); n != stored {
		t.Fatalf("HintCount after recovery = %d, %d stored", n, stored)
	}
	t.Logf("the hint whose fsync failed was kept: %v", stored == 1)
	cl := versioning.New(nil, versioning.Value{Data: []byte("v")})
	if err := s.Put(k, cl, true); err != nil {
		t.Fatalf("Put after recovery: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 2 || seen[0].Writable || seen[0].ReopenAttempts != 0 || !seen[len(seen)-1].Writable || seen[len(seen)-1].Reopens != 1 {
		t.Fatalf("notifications %+v, want a failure first and writes back last", seen)
	}
}

func TestStore_memoryIsAlwaysHealthy(t *testing.T) {
	s, err := storage.NewStore(storage.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if h := s.Health(); !h.Writable || !h.Readable || h.Err() != nil {
		t.Fatalf("Health = %+v", h)
	}
}
