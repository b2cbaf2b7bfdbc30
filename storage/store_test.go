package storage

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dynamod/dynamod/versioning"
)

func newTestStore(t *testing.T, e Engine) *Store {
	t.Helper()
	s, err := NewStore(e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// clockOf returns a one-value clock holding data.
func clockOf(data string) versioning.Clock {
	return versioning.Clock{Entries: []versioning.Entry{{
		Actor: 7, Counter: 1,
		Values: []versioning.Value{{Data: []byte(data), ContentType: "text/plain", LastModified: 1}},
	}}}
}

func wantClock(t *testing.T, s *Store, k Key, want versioning.Clock) {
	t.Helper()
	got, err := s.Get(k)
	if err != nil {
		t.Fatalf("Get(%s): %v", k, err)
	}
	if !reflect.DeepEqual(normalize(got), normalize(want)) {
		t.Fatalf("Get(%s) = %+v, want %+v", k, got, want)
	}
}

func TestStore_getPutDelete(t *testing.T) {
	s := newTestStore(t, NewMemory())
	k := Key{Hash: 42, Bucket: "b", Key: "k"}
	if _, err := s.Get(k); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get of a missing key = %v, want ErrNotFound", err)
	}
	c := goldenClocks[2].c
	if err := s.Put(k, c, false); err != nil {
		t.Fatal(err)
	}
	wantClock(t, s, k, c)
	// Overwrite with a different clock.
	if err := s.Put(k, clockOf("v2"), true); err != nil {
		t.Fatal(err)
	}
	wantClock(t, s, k, clockOf("v2"))
	// An invalid clock is refused and changes nothing.
	bad := versioning.Clock{Entries: []versioning.Entry{{Actor: 1, Counter: 0}}}
	if err := s.Put(k, bad, false); !errors.Is(err, versioning.ErrBadClock) {
		t.Fatalf("Put of an invalid clock = %v, want ErrBadClock", err)
	}
	wantClock(t, s, k, clockOf("v2"))
	if err := s.Delete(k, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(k, false); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
}

// TestStore_arbitraryKeys: buckets and keys are arbitrary bytes, and keys
// that share a hash or concatenate alike stay apart.
func TestStore_arbitraryKeys(t *testing.T) {
	s := newTestStore(t, NewMemory())
	keys := []Key{
		{Hash: 1, Bucket: "ab", Key: "c"},
		{Hash: 1, Bucket: "a", Key: "bc"},
		{Hash: 1, Bucket: "", Key: "abc"},
		{Hash: 1, Bucket: "abc", Key: ""},
		{Hash: 2, Bucket: "a\x00b", Key: "\x00"},
		{Hash: 2, Bucket: "/", Key: "/x/"},
		{Hash: 3, Bucket: "ведро", Key: "ключ 🔑"},
		{Hash: 3, Bucket: "\xff\xfe", Key: "\xff"},
	}
	for i, k := range keys {
		if err := s.Put(k, clockOf(strconv.Itoa(i)), false); err != nil {
			t.Fatal(err)
		}
	}
	for i, k := range keys {
		wantClock(t, s, k, clockOf(strconv.Itoa(i)))
	}
	var seen []Key
	if err := s.Scan(0, math.MaxUint64, func(k Key, c versioning.Clock) error {
		seen = append(seen, k)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(keys) {
		t.Fatalf("Scan saw %d keys, want %d", len(seen), len(keys))
	}
	for _, k := range keys {
		if !slices.Contains(seen, k) {
			t.Fatalf("Scan did not return %s", k)
		}
	}
	want := []string{"", "/", "a", "a\x00b", "ab", "abc", "ведро", "\xff\xfe"}
	slices.Sort(want)
	if got := s.Buckets(); !slices.Equal(got, want) {
		t.Fatalf("Buckets = %q, want %q", got, want)
	}
}

// TestStore_scanRanges compares Scan against a model for random ranges,
// including the ends of the hash space.
func TestStore_scanRanges(t *testing.T) {
	s := newTestStore(t, NewMemory())
	rng := rand.New(rand.NewPCG(41, 42))
	hashes := []uint64{0, 1, math.MaxUint64 - 1, math.MaxUint64, 1 << 63, 1<<63 - 1}
	for range 200 {
		hashes = append(hashes, rng.Uint64())
	}
	var keys []Key
	for i, h := range hashes {
		k := Key{Hash: h, Bucket: "b" + strconv.Itoa(i%3), Key: strconv.Itoa(i)}
		keys = append(keys, k)
		if err := s.Put(k, clockOf(k.Key), false); err != nil {
			t.Fatal(err)
		}
	}
	check := func(lo, hi uint64) {
		t.Helper()
		var want []uint64
		for _, h := range hashes {
			if lo <= h && h <= hi {
				want = append(want, h)
			}
		}
		slices.Sort(want)
		var got, gotRaw []uint64
		err := s.Scan(lo, hi, func(k Key, c versioning.Clock) error {
			if string(c.Entries[0].Values[0].Data) != k.Key {
				return fmt.Errorf("%s holds %q", k, c.Entries[0].Values[0].Data)
			}
			got = append(got, k.Hash)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = s.ScanRaw(lo, hi, func(k Key, raw []byte) error {
			c, err := DecodeObject(raw)
			if err != nil || string(c.Entries[0].Values[0].Data) != k.Key {
				return fmt.Errorf("raw object of %s: %v", k, err)
			}
			gotRaw = append(gotRaw, k.Hash)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) || !slices.Equal(gotRaw, want) {
			t.Fatalf("Scan(%#x, %#x) = %d hashes (raw %d), want %d", lo, hi, len(got), len(gotRaw), len(want))
		}
	}
	check(0, math.MaxUint64)
	check(0, 0)
	check(math.MaxUint64, math.MaxUint64)
	check(1<<63-1, 1<<63)
	check(5, 4) // lo > hi: nothing
	for range 200 {
		a, b := rng.Uint64(), rng.Uint64()
		check(min(a, b), max(a, b))
	}
	// A partition of 1024 is one range.
	const q = 1024
	total := 0
	for p := uint64(0); p < q; p++ {
		lo, hi := p*(math.MaxUint64/q+1), (p+1)*(math.MaxUint64/q+1)-1
		if err := s.ScanRaw(lo, hi, func(Key, []byte) error { total++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if total != len(keys) {
		t.Fatalf("partitions hold %d keys in all, want %d", total, len(keys))
	}
	// fn's error stops the scan and comes back unchanged.
	stop := errors.New("stop")
	if err := s.Scan(0, math.MaxUint64, func(Key, versioning.Clock) error { return stop }); err != stop {
		t.Fatalf("Scan = %v, want fn's error unchanged", err)
	}
	if err := s.ScanRaw(0, math.MaxUint64, func(Key, []byte) error { return stop }); err != stop {
		t.Fatalf("ScanRaw = %v, want fn's error unchanged", err)
	}
}

func TestStore_corruption(t *testing.T) {
	e := NewMemory()
	// No cache: the test damages the engine's bytes behind the store.
	s, err := NewStoreOptions(e, StoreOptions{CacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	good := Key{Hash: 10, Bucket: "b", Key: "good"}
	bad := Key{Hash: 20, Bucket: "b", Key: "bad"}
	after := Key{Hash: 30, Bucket: "b", Key: "after"}
	for _, k := range []Key{good, bad, after} {
		if err := s.Put(k, clockOf(k.Key), false); err != nil {
			t.Fatal(err)
		}
	}
	// Damage one byte of bad's object.
	raw, err := e.Get(appendObjectKey(nil, bad))
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 1
	if err := e.Put(appendObjectKey(nil, bad), raw, false); err != nil {
		t.Fatal(err)
	}

	_, err = s.Get(bad)
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotFound) || !errors.As(err, &ce) || ce.Key != bad {
		t.Fatalf("Get of a damaged object = %v, want a CorruptError for %s", err, bad)
	}
	if !strings.Contains(err.Error(), `"bad"`) {
		t.Fatalf("error %q does not name the key", err)
	}
	wantClock(t, s, good, clockOf("good"))

	var seen []string
	err = s.Scan(0, math.MaxUint64, func(k Key, _ versioning.Clock) error {
		seen = append(seen, k.Key)
		return nil
	})
	if !errors.As(err, &ce) || ce.Key != bad || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Scan over a damaged object = %v, want a CorruptError for %s", err, bad)
	}
	if !slices.Equal(seen, []string{"good"}) {
		t.Fatalf("Scan passed %q before failing, want [good]", seen)
	}
	// ScanRaw does not decode, so it passes the damaged bytes on.
	n := 0
	if err := s.ScanRaw(0, math.MaxUint64, func(Key, []byte) error { n++; return nil }); err != nil || n != 3 {
		t.Fatalf("ScanRaw = %v after %d objects, want nil after 3", err, n)
	}

	// A stored key that does not parse: bucket length past the end.
	badKey := []byte("o\x00\x00\x00\x00\x00\x00\x00\x19\x7fab")
	if err := e.Put(badKey, AppendObject(nil, clockOf("x")), false); err != nil {
		t.Fatal(err)
	}
	err = s.ScanRaw(25, 25, func(Key, []byte) error { return nil })
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || string(ce.RawKey) != string(badKey) {
		t.Fatalf("ScanRaw over an unparsable key = %v, want a CorruptError with the raw key", err)
	}

	// Same for hints.
	if err := e.Put([]byte("h\x02n1\x00"), nil, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Hints("n1", func(string, Key) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Hints over an unparsable key = %v, want ErrCorrupt", err)
	}
}

func TestStore_hints(t *testing.T) {
	s := newTestStore(t, NewMemory())
	k1 := Key{Hash: 1, Bucket: "b", Key: "k1"}
	k2 := Key{Hash: 2, Bucket: "b", Key: "k2"}
	k3 := Key{Hash: 3, Bucket: "c", Key: "k3"}
	put := func(target string, k Key) {
		t.Helper()
		if err := s.PutHint(target, k, true); err != nil {
			t.Fatal(err)
		}
	}
	type hint struct {
		target string
		k      Key
	}
	list := func(target string) []hint {
		t.Helper()
		var hs []hint
		if err := s.Hints(target, func(tg string, k Key) error {
			hs = append(hs, hint{tg, k})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return hs
	}
	if s.HintCount() != 0 || len(list("")) != 0 {
		t.Fatal("new store has hints")
	}
	put("n1", k2)
	put("n1", k1)
	put("n10", k1) // shares the prefix "n1"
	put("n2", k3)
	put("n1", k1) // again: no new hint
	if err := s.PutHint("n1", k1, false); err != nil {
		t.Fatal(err)
	}
	if got := s.HintCount(); got != 4 {
		t.Fatalf("HintCount = %d, want 4", got)
	}
	if got, want := list("n1"), []hint{{"n1", k1}, {"n1", k2}}; !slices.Equal(got, want) {
		t.Fatalf(`Hints("n1") = %+v, want %+v`, got, want)
	}
	// Grouped by target, shorter names first (the length prefix), then by hash.
	if got, want := list(""), []hint{{"n1", k1}, {"n1", k2}, {"n2", k3}, {"n10", k1}}; !slices.Equal(got, want) {
		t.Fatalf(`Hints("") = %+v, want %+v`, got, want)
	}
	if got := list("n3"); len(got) != 0 {
		t.Fatalf(`Hints("n3") = %+v, want none`, got)
	}
	if err := s.PutHint("", k1, true); err == nil {
		t.Fatal("PutHint with an empty target succeeded")
	}
	// Delivering: delete while iterating.
	if err := s.Hints("n1", func(target string, k Key) error { return s.DeleteHint(target, k) }); err != nil {
		t.Fatal(err)
	}
	if got := s.HintCount(); got != 2 {
		t.Fatalf("HintCount after delivering n1 = %d, want 2", got)
	}
	if err := s.DeleteHint("n1", k1); err != nil {
		t.Fatalf("DeleteHint of a missing hint: %v", err)
	}
	if got, want := list(""), []hint{{"n2", k3}, {"n10", k1}}; !slices.Equal(got, want) || s.HintCount() != 2 {
		t.Fatalf(`Hints("") = %+v (count %d), want %+v`, got, s.HintCount(), want)
	}
	stop := errors.New("stop")
	if err := s.Hints("", func(string, Key) error { return stop }); err != stop {
		t.Fatalf("Hints = %v, want fn's error unchanged", err)
	}
}

func TestStore_meta(t *testing.T) {
	e := NewMemory()
	s := newTestStore(t, e)
	if _, err := s.GetMeta("actor"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetMeta of a missing name = %v, want ErrNotFound", err)
	}
	if err := s.Put(Key{Hash: 1, Bucket: "b", Key: "k"}, clockOf("x"), false); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMeta("actor", []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetMeta("actor"); err != nil || string(v) != "\x01\x02\x03" {
		t.Fatalf("GetMeta = %x, %v", v, err)
	}
	// PutMeta is synced, and so everything before it.
	s2 := newTestStore(t, e.CrashClone())
	if v, err := s2.GetMeta("actor"); err != nil || string(v) != "\x01\x02\x03" {
		t.Fatalf("after a crash GetMeta = %x, %v", v, err)
	}
	wantClock(t, s2, Key{Hash: 1, Bucket: "b", Key: "k"}, clockOf("x"))
}

// TestStore_crash: synced puts, the bucket registry and synced hints survive
// a crash; unsynced ones after the last sync do not.
func TestStore_crash(t *testing.T) {
	e := NewMemory()
	s := newTestStore(t, e)
	durable := Key{Hash: 1, Bucket: "kept", Key: "a"}
	lost := Key{Hash: 2, Bucket: "lost", Key: "b"}
	if err := s.Put(durable, clockOf("a"), true); err != nil {
		t.Fatal(err)
	}
	if err := s.PutHint("n1", durable, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(lost, clockOf("b"), false); err != nil {
		t.Fatal(err)
	}
	if err := s.PutHint("n2", lost, false); err != nil {
		t.Fatal(err)
	}
	s2 := newTestStore(t, e.CrashClone())
	wantClock(t, s2, durable, clockOf("a"))
	if _, err := s2.Get(lost); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unsynced put survived: %v", err)
	}
	if got := s2.Buckets(); !slices.Equal(got, []string{"kept"}) {
		t.Fatalf("Buckets after crash = %q, want [kept]", got)
	}
	if got := s2.HintCount(); got != 1 {
		t.Fatalf("HintCount after crash = %d, want 1", got)
	}
}

// TestStore_reopenLevelDB: registry, hints and metadata are loaded again.
func TestStore_reopenLevelDB(t *testing.T) {
	dir := t.TempDir()
	open := func() *Store {
		l, err := OpenLevelDB(dir, LevelDBOptions{WriteBufferSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return newTestStore(t, l)
	}
	s := open()
	for i := range 50 {
		k := Key{Hash: uint64(i) << 56, Bucket: "b" + strconv.Itoa(i%4), Key: strconv.Itoa(i)}
		if err := s.Put(k, clockOf(k.Key), false); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			if err := s.PutHint("n"+strconv.Itoa(i%3), k, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.PutMeta("ring", []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Get(Key{Hash: 0, Bucket: "b0", Key: "0"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
	s = open()
	if got := s.Buckets(); !slices.Equal(got, []string{"b0", "b1", "b2", "b3"}) {
		t.Fatalf("Buckets after reopen = %q", got)
	}
	if got := s.HintCount(); got != 10 {
		t.Fatalf("HintCount after reopen = %d, want 10", got)
	}
	if v, err := s.GetMeta("ring"); err != nil || string(v) != "state" {
		t.Fatalf("GetMeta after reopen = %q, %v", v, err)
	}
	wantClock(t, s, Key{Hash: 7 << 56, Bucket: "b3", Key: "7"}, clockOf("7"))
}

// TestStore_lock: read-modify-write under Lock loses no update.
func TestStore_lock(t *testing.T) {
	s := newTestStore(t, NewMemory())
	// Two keys on the same stripe, one on another.
	keys := []Key{
		{Hash: 5, Bucket: "b", Key: "x"},
		{Hash: 5 + lockStripes, Bucket: "b", Key: "y"},
		{Hash: 6, Bucket: "b", Key: "z"},
	}
	const workers, increments = 6, 150
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range increments {
				k := keys[(w+i)%len(keys)]
				unlock := s.Lock(k)
				n := 0
				c, err := s.Get(k)
				if err == nil {
					n, _ = strconv.Atoi(string(c.Entries[0].Values[0].Data))
				} else if !errors.Is(err, ErrNotFound) {
					unlock()
					errs <- err
					return
				}
				err = s.Put(k, clockOf(strconv.Itoa(n+1)), false)
				unlock()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for _, k := range keys {
		c, err := s.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(string(c.Entries[0].Values[0].Data))
		total += n
	}
	if total != workers*increments {
		t.Fatalf("counters sum to %d, want %d: updates were lost", total, workers*increments)
	}
}
