package storage

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/dynamod/dynamod/versioning"
)

// benchStoreKeys is the number of distinct keys the Store benchmarks use.
const benchStoreKeys = 10_000

// benchStore opens a Store as a node does, on goleveldb with a blob
// directory, in a temporary directory, with the object cache off so that
// every Get reaches the engine.
func benchStore(b *testing.B) *Store {
	dir := b.TempDir()
	e, err := OpenLevelDB(filepath.Join(dir, "db"), LevelDBOptions{})
	if err != nil {
		b.Fatal(err)
	}
	o := DefaultStoreOptions()
	o.CacheBytes = -1
	o.BlobDir = filepath.Join(dir, "blobs")
	s, err := NewStoreOptions(e, o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func benchStoreKey(i int) Key {
	return Key{Hash: uint64(i) * (^uint64(0) / benchStoreKeys), Bucket: "bucket", Key: fmt.Sprintf("key-%05d", i)}
}

// go test ./storage -run '^$' -bench 'Store' -benchmem
//
// Store's Put, Get and Scan of small objects (one value of 100 B to 16 KiB)
// over goleveldb: the path every write and read of the quorum layer takes.
func BenchmarkStore(b *testing.B) {
	for _, size := range []int{100, 1 << 10, 16 << 10} {
		c := benchClock(1, size)
		b.Run(fmt.Sprintf("Put/value=%d", size), func(b *testing.B) {
			s := benchStore(b)
			rng := rand.New(rand.NewPCG(1, 2))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Put(benchStoreKey(rng.IntN(benchStoreKeys)), c, false); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Get/value=%d", size), func(b *testing.B) {
			s := benchStore(b)
			for i := range benchStoreKeys {
				if err := s.Put(benchStoreKey(i), c, false); err != nil {
					b.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(3, 4))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Get(benchStoreKey(rng.IntN(benchStoreKeys))); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Scan/value=%d", size), func(b *testing.B) {
			s := benchStore(b)
			for i := range benchStoreKeys {
				if err := s.Put(benchStoreKey(i), c, false); err != nil {
					b.Fatal(err)
				}
			}
			// 100 keys per scan.
			span := 100 * (^uint64(0) / benchStoreKeys)
			rng := rand.New(rand.NewPCG(5, 6))
			b.SetBytes(int64(100 * size))
			b.ReportAllocs()
			for b.Loop() {
				lo := benchStoreKey(rng.IntN(benchStoreKeys - 100)).Hash
				n := 0
				err := s.Scan(lo, lo+span-1, func(Key, versioning.Clock) error { n++; return nil })
				if err != nil || n != 100 {
					b.Fatalf("Scan = %v after %d objects, want 100", err, n)
				}
			}
		})
	}
}
