package faulty_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	lvstorage "github.com/syndtr/goleveldb/leveldb/storage"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/storage/faulty"
)

// isInjected reports whether err is, or was caused by, the injected error.
// goleveldb does not always keep the chain (it returns some file errors in
// its own types), so the message is accepted too.
func isInjected(err error) bool {
	return errors.Is(err, faulty.ErrInjected) || strings.Contains(err.Error(), faulty.ErrInjected.Error())
}

// TestLevelDB_storageFaultSweep fails the i-th file mutation (create, write,
// sync, rename, remove, set-meta) under goleveldb, once or from then on,
// during open and a run of synced writes. Every error must be a clean
// storage error caused by the injection, and after reopening the files
// without faults every acknowledged write must be there.
func TestLevelDB_storageFaultSweep(t *testing.T) {
	opts := storage.LevelDBOptions{WriteBufferSize: 1 << 20}
	for _, sticky := range []bool{false, true} {
		t.Run(fmt.Sprintf("sticky=%v", sticky), func(t *testing.T) {
			for i := 0; i < 1000; i++ {
				mem := lvstorage.NewMemStorage()
				fs := faulty.NewStorage(mem, faulty.Config{FailAt: i, Sticky: sticky})
				acked := map[string]string{}
				l, err := storage.OpenLevelDBStorage(fs, opts)
				if err != nil {
					if !isInjected(err) {
						t.Fatalf("i=%d: open: %v is not the injected error", i, err)
					}
				} else {
					for j := range 30 {
						k, v := fmt.Sprintf("key%02d", j), fmt.Sprintf("value %d %d", i, j)
						var err error
						if j%5 == 4 {
							var b storage.Batch
							b.Put([]byte(k), []byte(v))
							b.Put([]byte(k+"/b"), []byte(v))
							err = l.Write(&b, true)
							if err == nil {
								acked[k+"/b"] = v
							}
						} else {
							err = l.Put([]byte(k), []byte(v), true)
						}
						if err == nil {
							acked[k] = v
						} else if !isInjected(err) {
							t.Fatalf("i=%d: write %d: %v is not the injected error", i, j, err)
						}
						if _, err := l.Get([]byte(k)); err != nil && !errors.Is(err, storage.ErrNotFound) {
							t.Fatalf("i=%d: Get(%s): %v", i, k, err)
						}
					}
					if err := l.Close(); err != nil && !isInjected(err) {
						t.Fatalf("i=%d: Close: %v", i, err)
					}
				}
				injected := fs.Injected()

				l, err = storage.OpenLevelDBStorage(mem, opts)
				if err != nil {
					if len(acked) == 0 && errors.Is(err, storage.ErrCorrupt) {
						// Creation itself failed part-way: reported, and
						// nothing was acknowledged.
						continue
					}
					t.Fatalf("i=%d: reopen after faults (%d writes acknowledged): %v", i, len(acked), err)
				}
				for k, want := range acked {
					if got, err := l.Get([]byte(k)); err != nil || string(got) != want {
						l.Close()
						t.Fatalf("i=%d: acknowledged %s = %q lost: got %q, %v", i, k, want, got, err)
					}
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				if injected == 0 {
					t.Logf("workload passed at i=%d", i)
					return
				}
			}
			t.Fatal("still injecting after 1000 runs")
		})
	}
}

// TestLevelDB_failsStopAfterWriteError: after one failed journal write the
// engine refuses writes (goleveldb would otherwise acknowledge writes that
// recovery drops), keeps serving reads, and works again once reopened.
// (The engine's own reopen is held off here; storage's reopen tests cover
// it.)
func TestLevelDB_failsStopAfterWriteError(t *testing.T) {
	opts := storage.LevelDBOptions{WriteBufferSize: 1 << 20, ReopenBackoff: time.Hour}
	// Count the file operations of opening, to fail the first write after.
	probe := faulty.NewStorage(lvstorage.NewMemStorage(), faulty.Config{FailAt: -1})
	l, err := storage.OpenLevelDBStorage(probe, opts)
	if err != nil {
		t.Fatal(err)
	}
	openOps := probe.Ops()
	l.Close()

	mem := lvstorage.NewMemStorage()
	fs := faulty.NewStorage(mem, faulty.Config{FailAt: openOps})
	l, err = storage.OpenLevelDBStorage(fs, opts)
	if err != nil {
		t.Fatal(err)
	}
	if l.Err() != nil {
		t.Fatalf("Err before any failure = %v", l.Err())
	}
	if err := l.Put([]byte("a"), []byte("1"), true); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("first Put = %v, want the injected error", err)
	}
	if fs.Injected() != 1 {
		t.Fatalf("%d faults injected, want 1", fs.Injected())
	}
	err = l.Put([]byte("b"), []byte("2"), true)
	if !errors.Is(err, faulty.ErrInjected) || !strings.Contains(err.Error(), "earlier write error") {
		t.Fatalf("Put after a write error = %v, want a refusal wrapping the first error", err)
	}
	var b storage.Batch
	b.Put([]byte("c"), nil)
	if err := l.Write(&b, false); err == nil || !errors.Is(l.Err(), faulty.ErrInjected) {
		t.Fatalf("Write after a write error = %v (Err %v), want a refusal", err, l.Err())
	}
	if _, err := l.Get([]byte("b")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get in the failed state = %v, want ErrNotFound", err)
	}
	l.Close()

	l, err = storage.OpenLevelDBStorage(mem, opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer l.Close()
	if err := l.Put([]byte("b"), []byte("2"), true); err != nil {
		t.Fatalf("Put after reopening: %v", err)
	}
}
