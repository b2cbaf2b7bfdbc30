package storage

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/syndtr/goleveldb/leveldb/comparer"
	"github.com/syndtr/goleveldb/leveldb/memdb"
)

// BenchmarkMemtableInsert is one replica write's insert into goleveldb's
// memtable, alone: 10 000 keys in our key layout, 1.1 KB objects, a
// sequence number per write, the memtable emptied when full. It shows
// what the memtable's size does to the skiplist walk (docs/benchmarks.md,
// "Fewer allocations per request"); in a loaded cluster the walk's cache
// misses cost more.
//
//	go test ./storage -run '^$' -bench MemtableInsert -benchtime 300000x
func BenchmarkMemtableInsert(b *testing.B) {
	obj := make([]byte, 1100)
	const keys = 10000
	userKeys := make([][]byte, keys) // built once: the loop times the insert only
	for n := range userKeys {
		userKeys[n] = appendObjectKey(nil, Key{Hash: uint64(n) * 0x9E3779B97F4A7C15, Bucket: "bench", Key: fmt.Sprint("key", n)})
	}
	for _, mib := range []int{4, 16, 64} {
		b.Run(fmt.Sprintf("buffer=%dMiB", mib), func(b *testing.B) {
			db := memdb.New(comparer.DefaultComparer, mib<<20)
			rng := rand.New(rand.NewPCG(1, 2))
			var key []byte
			for i := range b.N {
				if db.Free() < len(obj)+64 {
					db.Reset()
				}
				key = append(key[:0], userKeys[rng.IntN(keys)]...)
				key = binary.LittleEndian.AppendUint64(key, uint64(i)<<8|1) // goleveldb's sequence and kind
				if err := db.Put(key, obj); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
