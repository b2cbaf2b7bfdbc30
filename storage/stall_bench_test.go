package storage_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynamod/dynamod/storage"
)

// BenchmarkWriteStalls times each unsynced 1 KiB Put of 16 writers over
// 10 000 keys into a LevelDB with the default options, through several
// memtable rotations and flushes (one per 64 MiB written), and reports
// the slowest Put and how many took over 5 ms: the write stalls of the
// engine, which a node's p99 shows (docs/benchmarks.md, "Write stalls at
// memtable flushes"). ns/op is the Puts' throughput.
//
//	go test ./storage -run '^$' -bench WriteStalls -benchtime 400000x -count 5
func BenchmarkWriteStalls(b *testing.B) {
	l, err := storage.OpenLevelDB(b.TempDir(), storage.LevelDBOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const writers = 16
	lat := make([][]time.Duration, writers)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range writers {
		wg.Go(func() {
			val := make([]byte, 1024)
			var key []byte
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				key = fmt.Appendf(key[:0], "key%05d", i%10000)
				start := time.Now()
				if err := l.Put(key, val, false); err != nil {
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(start))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	fast, _ := slices.BinarySearch(all, 5*time.Millisecond) // Puts under 5 ms
	slow := len(all) - fast
	b.ReportMetric(float64(all[len(all)-1])/float64(time.Millisecond), "max-ms")
	b.ReportMetric(float64(slow), "puts>5ms")
}
