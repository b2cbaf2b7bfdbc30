package main

import (
	"flag"

	"github.com/dynamod/dynamod/storage"
)

// storageFlags size goleveldb (docs/benchmarks.md, "300 000 keys: storage
// tuning", says why the defaults are what they are).
type storageFlags struct {
	blockCache, writeBuffer, objectCache int
	compression                          string
}

func (s *storageFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&s.blockCache, "block-cache", 0, "goleveldb block cache in bytes (0: 1/32 of physical memory or of the container's memory limit, between 32 MiB and 2 GiB)")
	fs.IntVar(&s.objectCache, "object-cache", 0, "cache of objects in bytes, kept in their stored encoding: a hit spares a write's read-before-write and a read the engine (0: 1/32 of physical memory or of the container's memory limit, between 256 MiB and 2 GiB; -1: no cache)")
	fs.StringVar(&s.compression, "compression", "none", "goleveldb table compression: none, or snappy (1 KiB JSON documents took 2.3 times less disk in BenchmarkReplicaWorkload, for a few per cent of CPU; random bytes gain nothing)")
	fs.IntVar(&s.writeBuffer, "write-buffer", storage.DefaultLevelDBOptions().WriteBufferSize, "goleveldb write buffer (memtable and journal) in bytes; up to two are held in memory, and a restart replays one")
}

func (s *storageFlags) check() error {
	if s.blockCache < 0 {
		return usagef("--block-cache must not be negative, got %d", s.blockCache)
	}
	if s.objectCache < -1 {
		return usagef("--object-cache must be a size, 0 (automatic) or -1 (none), got %d", s.objectCache)
	}
	if s.writeBuffer < 1<<20 {
		return usagef("--write-buffer must be at least 1 MiB, got %d", s.writeBuffer)
	}
	if s.compression != "none" && s.compression != "snappy" {
		return usagef("--compression must be none or snappy, got %q", s.compression)
	}
	return nil
}

// options returns the engine's options: the block cache sized for the
// machine unless given.
func (s *storageFlags) options() storage.LevelDBOptions {
	o := storage.DefaultLevelDBOptions()
	o.WriteBufferSize = s.writeBuffer
	o.BlockCacheSize = s.blockCache
	o.Compression = storage.CompressNone
	if s.compression == "snappy" {
		o.Compression = storage.CompressSnappy
	}
	if o.BlockCacheSize == 0 {
		o.BlockCacheSize = autoBlockCache(physicalMemory())
	}
	return o
}

// objectCacheBytes is the store's object cache: --object-cache (-1: none,
// which node.Parts passes on as a disabled cache), or sized for the
// machine (autoObjectCache).
func (s *storageFlags) objectCacheBytes() int {
	if s.objectCache != 0 {
		return s.objectCache
	}
	return autoObjectCache(physicalMemory())
}

// autoObjectCache is the object cache for a machine of mem bytes of RAM
// (0: unknown): a thirty-second of it like the block cache, from the
// library's default (so a small machine keeps what it had) up to 2 GiB.
func autoObjectCache(mem uint64) int {
	def := storage.DefaultStoreOptions().CacheBytes
	return autoCache(mem, def, def)
}

// autoBlockCache is the block cache for a machine of mem bytes of RAM (0:
// unknown): a thirty-second of it, so that three nodes on one machine and
// Go's heap growth (up to twice the live heap) stay well inside it, between
// 32 MiB and 2 GiB.
func autoBlockCache(mem uint64) int {
	return autoCache(mem, 32<<20, storage.DefaultLevelDBOptions().BlockCacheSize)
}

// autoCache is a thirty-second of mem bytes of RAM, at least lo and at most
// 2 GiB; unknown when mem is 0, then def.
func autoCache(mem uint64, lo, def int) int {
	const hi = 2 << 30
	if mem == 0 {
		return def
	}
	return int(min(max(mem/32, uint64(lo)), hi))
}
