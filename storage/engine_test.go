package storage_test

import (
	"testing"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/storage/storagetest"
)

func openMemory(testing.TB) storage.Engine { return storage.NewMemory() }

func openLevelDB(tb testing.TB) storage.Engine {
	// Small buffers: goleveldb allocates the write buffer up front, and the
	// suite opens many databases.
	l, err := storage.OpenLevelDB(tb.TempDir(), storage.LevelDBOptions{WriteBufferSize: 1 << 20, BlockCacheSize: 4 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func TestMemory_conformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Engine { return openMemory(t) })
}

func TestLevelDB_conformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Engine { return openLevelDB(t) })
}

// go test ./storage -run '^$' -bench 'Engine' -benchmem
func BenchmarkEngine(b *testing.B) {
	b.Run("engine=memory", func(b *testing.B) {
		storagetest.Bench(b, func(b *testing.B) storage.Engine { return openMemory(b) })
	})
	b.Run("engine=leveldb", func(b *testing.B) {
		storagetest.Bench(b, func(b *testing.B) storage.Engine {
			l, err := storage.OpenLevelDB(b.TempDir(), storage.LevelDBOptions{})
			if err != nil {
				b.Fatal(err)
			}
			return l
		})
	})
}
