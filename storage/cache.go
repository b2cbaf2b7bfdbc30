package storage

import "sync"

// cacheShards spreads the object cache over independent locks.
const cacheShards = 64

// objectCache keeps recently read and written objects in their encoding
// ([AppendObject]), so the read-modify-write of a replica write, the local
// read of a GET and a peer's replica read skip the engine for hot keys. It
// is bounded by the encoded size of what it holds and evicts at random when
// full (Go's map order), which is cheap and good enough for skewed and
// uniform loads alike.
//
// Entries hold no pointers but one to a byte slice (the key and the
// object, one allocation): the garbage collector marks one object per
// cached key and scans none of them. Cached decoded clocks (four or five
// objects each, with pointers) made a full cache of 300 000 keys cost a
// quarter of a second of marking per GC cycle on every node
// (docs/benchmarks.md, "A cache the collector does not scan"). A hit
// decodes the object again, without a copy of its data and without the
// checksum the engine's bytes were checked with when they came in.
//
// Coherence: every Put and Delete replaces or drops the entry and bumps the
// shard's generation; a Get that missed fills the cache only if the
// generation did not move while it read the engine, so a slow reader never
// installs a value older than a concurrent write.
//
// The bytes a hit returns are shared with the cache and with every clock
// decoded from them: they must never be modified.
type objectCache struct {
	budget int // bytes per shard
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	// mu guards the fields below.
	mu    sync.Mutex
	gen   uint64
	bytes int
	// m is keyed by the key's hash alone (a fast uint64 map, where a
	// struct key with two strings costs a generic hash and compare per
	// lookup); the entry's bucket and key tell a colliding key apart,
	// which then misses and, when written, replaces the other.
	m map[uint64]cacheEntry
}

// cacheEntry is one cached object: blob holds the bucket's name, the key
// and the object's encoding, in that order.
type cacheEntry struct {
	blob            []byte
	bucketLen, kLen int
}

// cacheOverhead is what an entry costs beyond its blob, for the budget.
const cacheOverhead = 64

func (e *cacheEntry) is(k Key) bool {
	return e.bucketLen == len(k.Bucket) && e.kLen == len(k.Key) &&
		string(e.blob[:e.bucketLen]) == k.Bucket && string(e.blob[e.bucketLen:e.bucketLen+e.kLen]) == k.Key
}

func (e *cacheEntry) obj() []byte { return e.blob[e.bucketLen+e.kLen:] }

func (e *cacheEntry) size() int { return len(e.blob) + cacheOverhead }

func newObjectCache(bytes int) *objectCache {
	if bytes <= 0 {
		return nil
	}
	c := &objectCache{budget: max(bytes/cacheShards, 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]cacheEntry)
	}
	return c
}

func (c *objectCache) shard(k Key) *cacheShard { return &c.shards[k.Hash%cacheShards] }

// get returns k's cached encoding (shared: never modify it), or the shard
// generation to pass to fill.
func (c *objectCache) get(k Key) ([]byte, bool, uint64) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k.Hash]
	if !ok || !e.is(k) {
		return nil, false, s.gen
	}
	return e.obj(), true, s.gen
}

// fill caches a copy of obj, which a Get read from the engine and checked,
// unless a write to the shard happened since gen.
func (c *objectCache) fill(k Key, obj []byte, gen uint64) {
	e, ok := c.entry(k, obj)
	if !ok {
		return
	}
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen == gen {
		c.setLocked(s, k, e)
	}
}

// set caches a copy of obj, the encoding a Put just wrote.
func (c *objectCache) set(k Key, obj []byte) {
	e, ok := c.entry(k, obj)
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	if ok {
		c.setLocked(s, k, e)
	} else {
		s.dropLocked(k.Hash) // k or a colliding key: neither is current
	}
}

// entry copies k and obj into a new entry, outside any lock; false if it
// would not fit in a shard.
func (c *objectCache) entry(k Key, obj []byte) (cacheEntry, bool) {
	n := len(k.Bucket) + len(k.Key) + len(obj)
	if n+cacheOverhead > c.budget {
		return cacheEntry{}, false
	}
	blob := make([]byte, 0, n)
	blob = append(append(append(blob, k.Bucket...), k.Key...), obj...)
	return cacheEntry{blob: blob, bucketLen: len(k.Bucket), kLen: len(k.Key)}, true
}

// drop forgets k (Delete, or a Put whose outcome is unknown).
func (c *objectCache) drop(k Key) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	if e, ok := s.m[k.Hash]; ok && e.is(k) {
		s.bytes -= e.size()
		delete(s.m, k.Hash)
	}
}

// dropLocked forgets the entry of hash h, whichever key it is for.
func (s *cacheShard) dropLocked(h uint64) {
	if old, ok := s.m[h]; ok {
		s.bytes -= old.size()
		delete(s.m, h)
	}
}

func (c *objectCache) setLocked(s *cacheShard, k Key, e cacheEntry) {
	s.dropLocked(k.Hash) // k, or a key colliding with it
	size := e.size()
	if s.bytes+size > c.budget { // ranging over a map costs even when it stops at once
		for victim, v := range s.m {
			if s.bytes+size <= c.budget {
				break
			}
			s.bytes -= v.size()
			delete(s.m, victim)
		}
	}
	s.m[k.Hash] = e
	s.bytes += size
}
