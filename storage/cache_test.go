package storage

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/dynamod/dynamod/versioning"
)

// TestCache_neverStale races readers that miss the cache against writers:
// after the writers stop, every key must read back its last write, from the
// cache and from the engine alike.
func TestCache_neverStale(t *testing.T) {
	s, direct := cachedAndDirect(t)
	keys := make([]Key, 16)
	for i := range keys {
		keys[i] = Key{Hash: uint64(i), Bucket: "b", Key: fmt.Sprint(i)}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				k := keys[(i+w)%len(keys)]
				if w%2 == 0 {
					unlock := s.Lock(k)
					_ = s.Put(k, clockOf(fmt.Sprintf("%d-%d", w, i)), false)
					unlock()
				} else {
					_, _ = s.Get(k)
					s.cache.drop(keys[(i*7)%len(keys)]) // force misses
				}
			}
		})
	}
	wg.Wait()
	for _, k := range keys {
		a, errA := s.Get(k)
		b, errB := direct.Get(k)
		if errA != nil || errB != nil || !versioning.Equal(a, b) {
			t.Fatalf("%s: cached %v (%v), engine %v (%v)", k, versioning.Values(a), errA, versioning.Values(b), errB)
		}
	}
}

// TestCache_budget keeps the cache within its byte budget.
func TestCache_budget(t *testing.T) {
	c := newObjectCache(cacheShards * 1000)
	obj := AppendObject(nil, clockOf(strings.Repeat("x", 150)))
	for i := range 10000 {
		k := Key{Hash: uint64(i), Bucket: "b", Key: fmt.Sprint(i)}
		c.set(k, obj)
	}
	for i := range c.shards {
		if b := c.shards[i].bytes; b > c.budget {
			t.Fatalf("shard %d holds %d bytes, budget %d", i, b, c.budget)
		}
		if len(c.shards[i].m) == 0 {
			t.Fatalf("shard %d is empty", i)
		}
	}
	big := Key{Hash: 1, Bucket: "b", Key: "1"}
	c.set(big, AppendObject(nil, clockOf(strings.Repeat("x", 1000))))
	if _, ok, _ := c.get(big); ok {
		t.Fatal("an object larger than a shard's budget was cached")
	}
	if newObjectCache(-1) != nil {
		t.Fatal("a negative size must disable the cache")
	}
}

// TestCache_hashCollision: two keys with one hash never answer for each
// other; the one written last is cached, the other misses.
func TestCache_hashCollision(t *testing.T) {
	c := newObjectCache(1 << 20)
	a := Key{Hash: 7, Bucket: "b", Key: "a"}
	b := Key{Hash: 7, Bucket: "b", Key: "b"}
	other := Key{Hash: 7, Bucket: "c", Key: "a"}
	split := Key{Hash: 7, Bucket: "ba", Key: ""} // the same bytes as b, a
	c.set(a, AppendObject(nil, clockOf("x")))
	if _, ok, _ := c.get(b); ok {
		t.Fatal("a key with the same hash answered from another key's entry")
	}
	if _, ok, _ := c.get(other); ok {
		t.Fatal("a key of another bucket with the same hash and key name answered")
	}
	if _, ok, _ := c.get(split); ok {
		t.Fatal("a key whose bucket and name concatenate to the same bytes answered")
	}
	c.set(b, AppendObject(nil, clockOf("y")))
	if _, ok, _ := c.get(a); ok {
		t.Fatal("the replaced key still answers")
	}
	obj, ok, _ := c.get(b)
	cl, err := decodeCached(obj)
	if !ok || err != nil || len(versioning.Values(cl)) != 1 || string(versioning.Values(cl)[0].Data) != "y" {
		t.Fatalf("get(b) = %v, %v, %v; want y", versioning.Values(cl), ok, err)
	}
	c.drop(a) // not cached: must not drop b
	if _, ok, _ := c.get(b); !ok {
		t.Fatal("dropping a colliding key that is not cached dropped the cached one")
	}
	c.drop(b)
	if _, ok, _ := c.get(b); ok || c.shards[7].bytes != 0 {
		t.Fatalf("after drop: cached %v, shard bytes %d", ok, c.shards[7].bytes)
	}
}

// TestCache_getEncoded: GetEncoded answers the bytes Put wrote, from the
// cache and from the engine alike, and they decode to what Get returns.
func TestCache_getEncoded(t *testing.T) {
	s, direct := cachedAndDirect(t)
	k := Key{Hash: 3, Bucket: "b", Key: "k"}
	if _, err := s.GetEncoded(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetEncoded of a missing key: %v, want ErrNotFound", err)
	}
	c := clockOf("v")
	if err := s.Put(k, c, false); err != nil {
		t.Fatal(err)
	}
	want := AppendObject(nil, c)
	for name, st := range map[string]*Store{"cached": s, "engine": direct} {
		got, err := st.GetEncoded(k)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: GetEncoded = %x, %v; want %x", name, got, err, want)
		}
		cl, err := st.Get(k)
		if err != nil || !versioning.Equal(cl, c) {
			t.Fatalf("%s: Get = %v, %v", name, versioning.Values(cl), err)
		}
	}
	s.cache.drop(k) // a miss fills the cache from the engine
	if got, err := s.GetEncoded(k); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after a miss: GetEncoded = %x, %v", got, err)
	}
	if _, ok, _ := s.cache.get(k); !ok {
		t.Fatal("a miss did not fill the cache")
	}
}

// cachedAndDirect returns two Stores on one in-memory engine: one with an
// object cache, and one without, which reads what the engine holds.
func cachedAndDirect(t *testing.T) (cached, direct *Store) {
	t.Helper()
	e := NewMemory()
	cached, err := NewStoreOptions(e, StoreOptions{CacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cached.Close() })
	if direct, err = NewStoreOptions(e, StoreOptions{CacheBytes: -1}); err != nil {
		t.Fatal(err)
	}
	return cached, direct
}
