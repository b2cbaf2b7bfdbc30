package storage

import (
	"sync"

	"github.com/dynamod/dynamod/versioning"
)

// cacheShards spreads the object cache over independent locks.
const cacheShards = 64

// objectCache keeps recently read and written objects decoded, so the
// read-modify-write of a replica write and the local read of a GET skip the
// engine and the decoder for hot keys. It is bounded by the encoded size of
// what it holds and evicts at random when full (Go's map order), which is
// cheap and good enough for skewed and uniform loads alike.
//
// Coherence: every Put and Delete replaces or drops the entry and bumps the
// shard's generation; a Get that missed fills the cache only if the
// generation did not move while it read the engine, so a slow reader never
// installs a value older than a concurrent write.
//
// Cached clocks are shared between readers: like every clock the versioning
// package returns, they must be treated as immutable.
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

type cacheEntry struct {
	bucket, key string
	clock       versioning.Clock
	size        int
}

func (e *cacheEntry) is(k Key) bool { return e.key == k.Key && e.bucket == k.Bucket }

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

// get returns the cached clock, or the shard generation to pass to fill.
func (c *objectCache) get(k Key) (versioning.Clock, bool, uint64) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k.Hash]
	if !ok || !e.is(k) {
		return versioning.Clock{}, false, s.gen
	}
	return e.clock, true, s.gen
}

// fill caches what a Get read from the engine, unless a write to the shard
// happened since gen.
func (c *objectCache) fill(k Key, cl versioning.Clock, size int, gen uint64) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen == gen {
		c.setLocked(s, k, cl, size)
	}
}

// set caches the state a Put just wrote.
func (c *objectCache) set(k Key, cl versioning.Clock, size int) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	c.setLocked(s, k, cl, size)
}

// drop forgets k (Delete, or a Put whose outcome is unknown).
func (c *objectCache) drop(k Key) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	if e, ok := s.m[k.Hash]; ok && e.is(k) {
		s.bytes -= e.size
		delete(s.m, k.Hash)
	}
}

func (c *objectCache) setLocked(s *cacheShard, k Key, cl versioning.Clock, size int) {
	size += len(k.Bucket) + len(k.Key) + 64 // key and bookkeeping
	if old, ok := s.m[k.Hash]; ok {         // k, or a key colliding with it
		s.bytes -= old.size
		delete(s.m, k.Hash)
	}
	if size > c.budget {
		return
	}
	if s.bytes+size > c.budget { // ranging over a map costs even when it stops at once
		for victim, e := range s.m {
			if s.bytes+size <= c.budget {
				break
			}
			s.bytes -= e.size
			delete(s.m, victim)
		}
	}
	s.m[k.Hash] = cacheEntry{bucket: k.Bucket, key: k.Key, clock: cl, size: size}
	s.bytes += size
}
