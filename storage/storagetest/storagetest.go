// Package storagetest is the conformance suite for storage.Engine
// implementations: [Run] checks the Engine contract and [Bench] measures
// it. Both engines of package storage, and wrappers such as package faulty,
// run them, so the in-memory engine the cluster tests use behaves like the
// goleveldb one in production.
package storagetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/dynamod/dynamod/storage"
)

// Run runs the conformance suite. open must return a new, empty engine for
// each call; Run closes every engine it opens.
func Run(t *testing.T, open func(t *testing.T) storage.Engine) {
	e := func(t *testing.T) storage.Engine {
		t.Helper()
		eng := open(t)
		t.Cleanup(func() {
			if err := eng.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return eng
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, e storage.Engine)
	}{
		{"getMissing", testGetMissing},
		{"putGet", testPutGet},
		{"overwrite", testOverwrite},
		{"delete", testDelete},
		{"copyOwnership", testCopyOwnership},
		{"batchSemantics", testBatchSemantics},
		{"batchAtomic", testBatchAtomic},
		{"scanOrder", testScanOrder},
		{"scanRanges", testScanRanges},
		{"scanStop", testScanStop},
		{"scanSnapshotOwnWrites", testScanSnapshotOwnWrites},
		{"scanSnapshotOrderedPuts", testScanSnapshotOrderedPuts},
		{"concurrent", testConcurrent},
		{"manyKeys", testManyKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, e(t)) })
	}
	// close manages its own Close calls.
	t.Run("close", func(t *testing.T) { testClose(t, e(t)) })
}

func mustPut(t *testing.T, e storage.Engine, k, v string) {
	t.Helper()
	if err := e.Put([]byte(k), []byte(v), false); err != nil {
		t.Fatalf("Put(%q): %v", k, err)
	}
}

func wantValue(t *testing.T, e storage.Engine, k, want string) {
	t.Helper()
	got, err := e.Get([]byte(k))
	if err != nil {
		t.Fatalf("Get(%q): %v, want %q", k, err, want)
	}
	if string(got) != want {
		t.Fatalf("Get(%q) = %q, want %q", k, got, want)
	}
}

func wantMissing(t *testing.T, e storage.Engine, k string) {
	t.Helper()
	got, err := e.Get([]byte(k))
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", k, got, err)
	}
}

// scanAll returns the keys and values of Scan(start, end) in the order seen.
func scanAll(t *testing.T, e storage.Engine, start, end []byte) (keys, values []string) {
	t.Helper()
	err := e.Scan(start, end, func(k, v []byte) error {
		keys = append(keys, string(k))
		values = append(values, string(v))
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%q, %q): %v", start, end, err)
	}
	return keys, values
}

func testGetMissing(t *testing.T, e storage.Engine) {
	wantMissing(t, e, "nope")
	wantMissing(t, e, "")
	mustPut(t, e, "a", "1")
	wantMissing(t, e, "a\x00")
	wantMissing(t, e, "")
}

func testPutGet(t *testing.T, e storage.Engine) {
	big := string(bytes.Repeat([]byte{0xab, 0x00, 0xff}, 400_000))
	kv := map[string]string{
		"":              "empty key",
		"\x00":          "nul",
		"\xff\xff":      "high bytes",
		"a":             "",
		"a\x00b":        "nul inside",
		"bucket/ключ/🔑": "unicode",
		"big":           big,
	}
	for k, v := range kv {
		mustPut(t, e, k, v)
	}
	for k, v := range kv {
		wantValue(t, e, k, v)
	}
}

func testOverwrite(t *testing.T, e storage.Engine) {
	mustPut(t, e, "k", "one")
	mustPut(t, e, "k", "two, longer")
	wantValue(t, e, "k", "two, longer")
	mustPut(t, e, "k", "")
	wantValue(t, e, "k", "")
	keys, _ := scanAll(t, e, nil, nil)
	if len(keys) != 1 {
		t.Fatalf("after overwrites Scan saw %q, want one key", keys)
	}
}

func testDelete(t *testing.T, e storage.Engine) {
	mustPut(t, e, "a", "1")
	mustPut(t, e, "b", "2")
	if err := e.Delete([]byte("a"), true); err != nil {
		t.Fatalf("Delete(a): %v", err)
	}
	wantMissing(t, e, "a")
	wantValue(t, e, "b", "2")
	if err := e.Delete([]byte("never"), false); err != nil {
		t.Fatalf("Delete of a missing key: %v, want nil", err)
	}
	if err := e.Delete([]byte("a"), false); err != nil {
		t.Fatalf("second Delete(a): %v, want nil", err)
	}
	if keys, _ := scanAll(t, e, nil, nil); !slices.Equal(keys, []string{"b"}) {
		t.Fatalf("Scan after delete = %q, want [b]", keys)
	}
	mustPut(t, e, "a", "again")
	wantValue(t, e, "a", "again")
}

func testCopyOwnership(t *testing.T, e storage.Engine) {
	// Put must copy its arguments.
	k, v := []byte("key"), []byte("value")
	if err := e.Put(k, v, false); err != nil {
		t.Fatal(err)
	}
	copy(k, "XXX")
	copy(v, "XXXXX")
	wantValue(t, e, "key", "value")
	wantMissing(t, e, "XXX")

	// Get must return a copy the caller owns.
	got, err := e.Get([]byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	copy(got, "mutated")
	wantValue(t, e, "key", "value")
	got2, err := e.Get([]byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) > 0 && len(got2) > 0 && &got[0] == &got2[0] {
		t.Fatal("two Gets returned the same memory")
	}

	// A batch copies on Put/Delete, and may be reused after Write.
	var b storage.Batch
	bk, bv := []byte("bkey"), []byte("bval")
	b.Put(bk, bv)
	copy(bk, "ZZZZ")
	copy(bv, "ZZZZ")
	if err := e.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	b.Put([]byte("other"), []byte("x"))
	b.Put([]byte("bkey"), []byte("overwritten by a later batch"))
	wantValue(t, e, "bkey", "bval")
	wantMissing(t, e, "ZZZZ")
	wantMissing(t, e, "other")

}

func testBatchSemantics(t *testing.T, e storage.Engine) {
	mustPut(t, e, "del", "x")
	mustPut(t, e, "keep", "x")
	var b storage.Batch
	if b.Len() != 0 {
		t.Fatalf("zero Batch Len = %d", b.Len())
	}
	if err := e.Write(&b, false); err != nil {
		t.Fatalf("Write of an empty batch: %v", err)
	}
	b.Put([]byte("a"), []byte("1"))
	b.Delete([]byte("a")) // put then delete: absent
	b.Delete([]byte("b"))
	b.Put([]byte("b"), []byte("2")) // delete then put: present
	b.Put([]byte("c"), []byte("old"))
	b.Put([]byte("c"), []byte("new")) // last put wins
	b.Delete([]byte("del"))
	b.Put([]byte(""), []byte("empty key"))
	if b.Len() != 8 {
		t.Fatalf("Len = %d, want 8", b.Len())
	}
	if err := e.Write(&b, true); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, e, "a")
	wantValue(t, e, "b", "2")
	wantValue(t, e, "c", "new")
	wantMissing(t, e, "del")
	wantValue(t, e, "keep", "x")
	wantValue(t, e, "", "empty key")
	b.Reset()
	if b.Len() != 0 {
		t.Fatalf("Len after Reset = %d", b.Len())
	}
	if err := e.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	wantValue(t, e, "c", "new")
}

// testBatchAtomic moves amounts between accounts with batches while
// a reader scans: every scan must see the same total, which fails if a scan
// sees half a batch or a mix of two points in time.
func testBatchAtomic(t *testing.T, e storage.Engine) {
	const accounts, start, rounds = 16, 1000, 2000
	key := func(i int) []byte { return fmt.Appendf(nil, "acct/%02d", i) }
	val := func(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }
	var b storage.Batch
	for i := range accounts {
		b.Put(key(i), val(start))
	}
	if err := e.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	balances := make([]int64, accounts)
	for i := range balances {
		balances[i] = start
	}

	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(done)
		rng := rand.New(rand.NewPCG(1, 2))
		var b storage.Batch
		for range rounds {
			// Every account passes a random amount to the next one, so a
			// batch rewrites every key and a torn read shows in the sum.
			amts := make([]int64, accounts)
			for i := range amts {
				amts[i] = rng.Int64N(100)
			}
			b.Reset()
			for i := range accounts {
				balances[i] += amts[(i+accounts-1)%accounts] - amts[i]
				b.Put(key(i), val(balances[i]))
			}
			if err := e.Write(&b, false); err != nil {
				errc <- err
				return
			}
		}
	}()

	scans := 0
	for finished := false; !finished && scans < 100_000; scans++ {
		select {
		case <-done:
			finished = true // one last scan of the final state
		default:
		}
		var sum int64
		n := 0
		err := e.Scan([]byte("acct/"), []byte("acct0"), func(k, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("key %q: %d-byte value", k, len(v))
			}
			sum += int64(binary.BigEndian.Uint64(v))
			n++
			return nil
		})
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		if n != accounts || sum != accounts*start {
			t.Fatalf("scan %d saw %d accounts summing to %d, want %d summing to %d", scans, n, sum, accounts, accounts*start)
		}
	}
	<-done
	select {
	case err := <-errc:
		t.Fatalf("Write: %v", err)
	default:
	}
}

func testScanOrder(t *testing.T, e storage.Engine) {
	want := []string{"", "\x00", "\x00\x00", "a", "a\x00", "a\x01", "ab", "b", "\x7f", "\x80", "\xff", "\xff\xff"}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, i := range rng.Perm(len(want)) {
		mustPut(t, e, want[i], "v:"+want[i])
	}
	keys, values := scanAll(t, e, nil, nil)
	if !slices.Equal(keys, want) {
		t.Fatalf("Scan order = %q, want %q", keys, want)
	}
	for i, k := range keys {
		if values[i] != "v:"+k {
			t.Fatalf("value of %q = %q", k, values[i])
		}
	}
}

func testScanRanges(t *testing.T, e storage.Engine) {
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		mustPut(t, e, k, k)
	}
	b := func(s string) []byte { return []byte(s) }
	tests := []struct {
		name       string
		start, end []byte
		want       []string
	}{
		{"all", nil, nil, []string{"a", "b", "c", "d", "e"}},
		{"from", b("c"), nil, []string{"c", "d", "e"}},
		{"to", nil, b("c"), []string{"a", "b"}},
		{"halfOpen", b("b"), b("d"), []string{"b", "c"}},
		{"absentBounds", b("bb"), b("dd"), []string{"c", "d"}},
		{"emptyStart", b(""), b("b"), []string{"a"}},
		{"oneKey", b("c"), b("c\x00"), []string{"c"}},
		{"equalBounds", b("c"), b("c"), nil},
		{"reversed", b("d"), b("b"), nil},
		{"pastEnd", b("f"), nil, nil},
		{"beforeStart", nil, b("a"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := scanAll(t, e, tc.start, tc.end)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Scan(%q, %q) = %q, want %q", tc.start, tc.end, got, tc.want)
			}
		})
	}
}

func testScanStop(t *testing.T, e storage.Engine) {
	for i := range 10 {
		mustPut(t, e, fmt.Sprintf("k%d", i), "v")
	}
	stop := errors.New("stop here")
	calls := 0
	err := e.Scan(nil, nil, func(k, v []byte) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Fatalf("Scan = %v, want the callback's error unchanged", err)
	}
	if calls != 3 {
		t.Fatalf("callback ran %d times after returning an error at 3", calls)
	}
	// The engine is still usable, also from inside a callback.
	err = e.Scan(nil, nil, func(k, v []byte) error {
		got, err := e.Get(k)
		if err != nil || !bytes.Equal(got, v) {
			return fmt.Errorf("Get(%q) inside Scan = %q, %v; want %q", k, got, err, v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testScanSnapshotOwnWrites changes the scanned range from inside the
// callback: the scan must still see exactly the state it started on.
func testScanSnapshotOwnWrites(t *testing.T, e storage.Engine) {
	for _, k := range []string{"k1", "k3", "k5", "k7"} {
		mustPut(t, e, k, "old")
	}
	var keys, values []string
	err := e.Scan([]byte("k"), []byte("l"), func(k, v []byte) error {
		if len(keys) == 0 {
			mustPut(t, e, "k2", "new")                            // insert ahead of the cursor
			mustPut(t, e, "k5", "new")                            // overwrite ahead
			if err := e.Delete([]byte("k7"), false); err != nil { // delete ahead
				return err
			}
			var b storage.Batch
			b.Put([]byte("k4"), []byte("new"))
			b.Put([]byte("k9"), []byte("new"))
			b.Delete([]byte("k3"))
			if err := e.Write(&b, false); err != nil {
				return err
			}
		}
		keys = append(keys, string(k))
		values = append(values, string(v))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"k1", "k3", "k5", "k7"}; !slices.Equal(keys, want) {
		t.Fatalf("scan saw keys %q, want the snapshot %q", keys, want)
	}
	for i, v := range values {
		if v != "old" {
			t.Fatalf("scan saw %q = %q, want old", keys[i], v)
		}
	}
	keys, _ = scanAll(t, e, []byte("k"), []byte("l"))
	if want := []string{"k1", "k2", "k4", "k5", "k9"}; !slices.Equal(keys, want) {
		t.Fatalf("second scan saw %q, want %q", keys, want)
	}
}

// testScanSnapshotOrderedPuts appends keys in order from one goroutine while
// another scans: a snapshot holds a prefix of the sequence with no gaps.
func testScanSnapshotOrderedPuts(t *testing.T, e storage.Engine) {
	const n = 2000
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if err := e.Put(fmt.Appendf(nil, "seq/%06d", i), []byte("v"), false); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var werr error
	for finished, scans := false, 0; !finished && scans < 100_000; scans++ {
		select {
		case werr = <-done:
			finished = true
		default:
		}
		next := 0
		err := e.Scan([]byte("seq/"), []byte("seq0"), func(k, v []byte) error {
			if want := fmt.Sprintf("seq/%06d", next); string(k) != want {
				return fmt.Errorf("scan saw %q where %q was due: not a snapshot", k, want)
			}
			next++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if finished && next != n && werr == nil {
			t.Fatalf("final scan saw %d keys, want %d", next, n)
		}
	}
	if werr != nil {
		t.Fatalf("Put: %v", werr)
	}
}

func testConcurrent(t *testing.T, e storage.Engine) {
	const workers, ops = 4, 300
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range ops {
				k := fmt.Appendf(nil, "w%d/%04d", w, i)
				v := fmt.Appendf(nil, "value %d %d", w, i)
				if err := e.Put(k, v, false); err != nil {
					errs <- err
					return
				}
				got, err := e.Get(k)
				if err != nil || !bytes.Equal(got, v) {
					errs <- fmt.Errorf("Get(%q) = %q, %v; want %q", k, got, err, v)
					return
				}
				if i%3 == 0 {
					if err := e.Delete(k, false); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	keys, _ := scanAll(t, e, nil, nil)
	if want := workers * (ops - (ops+2)/3); len(keys) != want {
		t.Fatalf("%d keys left, want %d", len(keys), want)
	}
}

func testManyKeys(t *testing.T, e storage.Engine) {
	n := 20_000
	if testing.Short() {
		n = 2000
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var b storage.Batch
	for i, p := range rng.Perm(n) {
		b.Put(binary.BigEndian.AppendUint32(nil, uint32(p)), []byte("v"))
		if i%500 == 499 {
			if err := e.Write(&b, false); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
	if err := e.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	next := uint32(0)
	err := e.Scan(nil, nil, func(k, v []byte) error {
		if got := binary.BigEndian.Uint32(k); got != next {
			return fmt.Errorf("scan saw key %d, want %d", got, next)
		}
		next++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if int(next) != n {
		t.Fatalf("scan saw %d keys, want %d", next, n)
	}
	// Delete every other key, then count again.
	for i := 0; i < n; i += 2 {
		if err := e.Delete(binary.BigEndian.AppendUint32(nil, uint32(i)), false); err != nil {
			t.Fatal(err)
		}
	}
	if keys, _ := scanAll(t, e, nil, nil); len(keys) != n/2 {
		t.Fatalf("%d keys after deleting half, want %d", len(keys), n/2)
	}
}

func testClose(t *testing.T, e storage.Engine) {
	mustPut(t, e, "k", "v")
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v, want nil", err)
	}
	var b storage.Batch
	b.Put([]byte("x"), []byte("y"))
	called := false
	for name, err := range map[string]error{
		"Get":    func() error { _, err := e.Get([]byte("k")); return err }(),
		"Put":    e.Put([]byte("k"), []byte("v2"), true),
		"Delete": e.Delete([]byte("k"), false),
		"Write":  e.Write(&b, false),
		"Scan":   e.Scan(nil, nil, func(k, v []byte) error { called = true; return nil }),
	} {
		if !errors.Is(err, storage.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	if called {
		t.Error("Scan after Close called its callback")
	}
}
