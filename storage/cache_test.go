package storage

import (
	"fmt"
	"sync"
	"testing"

	"github.com/dynamod/dynamod/versioning"
)

// TestCache_neverStale races readers that miss the cache against writers:
// after the writers stop, every key must read back its last write, from the
// cache and from the engine alike.
func TestCache_neverStale(t *testing.T) {
	e := NewMemory()
	s, err := NewStoreOptions(e, StoreOptions{CacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
	direct, err := NewStoreOptions(e, StoreOptions{CacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
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
	for i := range 10000 {
		k := Key{Hash: uint64(i), Bucket: "b", Key: fmt.Sprint(i)}
		c.set(k, clockOf("x"), 200)
	}
	for i := range c.shards {
		if b := c.shards[i].bytes; b > c.budget {
			t.Fatalf("shard %d holds %d bytes, budget %d", i, b, c.budget)
		}
		if len(c.shards[i].m) == 0 {
			t.Fatalf("shard %d is empty", i)
		}
	}
	if newObjectCache(-1) != nil {
		t.Fatal("a negative size must disable the cache")
	}
}
