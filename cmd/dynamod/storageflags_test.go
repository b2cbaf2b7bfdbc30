package main

import (
	"testing"

	"github.com/dynamod/dynamod/storage"
)

func TestAutoBlockCache(t *testing.T) {
	for _, tc := range []struct {
		mem  uint64
		want int
	}{
		{0, storage.DefaultLevelDBOptions().BlockCacheSize}, // unknown: the storage default
		{512 << 20, 32 << 20},                               // small machines get the floor
		{24 << 30, 768 << 20},                               // a thirty-second
		{256 << 30, 2 << 30},                                // large machines stop at the ceiling
	} {
		if got := autoBlockCache(tc.mem); got != tc.want {
			t.Errorf("autoBlockCache(%d) = %d, want %d", tc.mem, got, tc.want)
		}
	}
}

func TestObjectCacheBytes(t *testing.T) {
	if got := (&storageFlags{objectCache: 5 << 20}).objectCacheBytes(); got != 5<<20 {
		t.Errorf("--object-cache 5 MiB: %d", got)
	}
	for _, tc := range []struct {
		mem  uint64
		want int
	}{
		{0, storage.DefaultStoreOptions().CacheBytes}, // unknown: the storage default
		{512 << 20, 64 << 20},                         // small machines get the floor
		{24 << 30, 768 << 20},                         // a thirty-second
		{256 << 30, 2 << 30},                          // large machines stop at the ceiling
	} {
		if got := autoCache(tc.mem, 64<<20, storage.DefaultStoreOptions().CacheBytes); got != tc.want {
			t.Errorf("object cache for %d bytes of RAM = %d, want %d", tc.mem, got, tc.want)
		}
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
		{storageFlags{objectCache: -1, writeBuffer: 64 << 20, compression: "none"}, false},
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
