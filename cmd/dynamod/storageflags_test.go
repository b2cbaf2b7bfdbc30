package main

import (
	"testing"

	"github.com/dynamod/dynamod/storage"
)

// TestAutoCaches: both caches are a thirty-second of the machine's memory
// between a floor and 2 GiB, and the storage defaults when it is unknown;
// a size given by flag wins.
func TestAutoCaches(t *testing.T) {
	for _, tc := range []struct {
		mem           uint64
		block, object int
	}{
		{0, storage.DefaultLevelDBOptions().BlockCacheSize, storage.DefaultStoreOptions().CacheBytes}, // unknown
		{512 << 20, 32 << 20, 256 << 20}, // small machines get the floors
		{24 << 30, 768 << 20, 768 << 20},
		{256 << 30, 2 << 30, 2 << 30}, // large machines stop at the ceiling
	} {
		if got := autoBlockCache(tc.mem); got != tc.block {
			t.Errorf("autoBlockCache(%d) = %d, want %d", tc.mem, got, tc.block)
		}
		if got := autoObjectCache(tc.mem); got != tc.object {
			t.Errorf("autoObjectCache(%d) = %d, want %d", tc.mem, got, tc.object)
		}
	}
	for _, given := range []int{5 << 20, -1} {
		if got := (&storageFlags{objectCache: given}).objectCacheBytes(); got != given {
			t.Errorf("--object-cache %d: %d", given, got)
		}
	}
	if got := (&storageFlags{}).objectCacheBytes(); got < storage.DefaultStoreOptions().CacheBytes || got > 2<<30 {
		t.Errorf("automatic object cache %d, want between the library default and 2 GiB", got)
	}
}

func TestStorageFlags_check(t *testing.T) {
	for _, tc := range []struct {
		f  storageFlags
		ok bool
	}{
		{storageFlags{blockCache: 0, writeBuffer: 64 << 20, compression: "none"}, true},
		{storageFlags{blockCache: 1 << 30, writeBuffer: 1 << 20, compression: "snappy"}, true},
		{storageFlags{blockCache: -1, writeBuffer: 64 << 20, compression: "none"}, false},
		{storageFlags{objectCache: -2, writeBuffer: 64 << 20, compression: "none"}, false},
		{storageFlags{objectCache: -1, writeBuffer: 64 << 20, compression: "none"}, true},
		{storageFlags{objectCache: 1 << 30, writeBuffer: 64 << 20, compression: "none"}, true},
		{storageFlags{blockCache: 0, writeBuffer: 1000, compression: "none"}, false},
		{storageFlags{blockCache: 0, writeBuffer: 64 << 20, compression: "zstd"}, false},
	} {
		if err := tc.f.check(); (err == nil) != tc.ok {
			t.Errorf("%+v.check() = %v, want ok %v", tc.f, err, tc.ok)
		}
	}
	o := (&storageFlags{blockCache: 100 << 20, writeBuffer: 16 << 20, compression: "snappy"}).options()
	if o.BlockCacheSize != 100<<20 || o.WriteBufferSize != 16<<20 || o.Compression != storage.CompressSnappy {
		t.Errorf("options() = %+v, want the flags' sizes", o)
	}
}
