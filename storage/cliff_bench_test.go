package storage

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/syndtr/goleveldb/leveldb"

	"github.com/dynamod/dynamod/versioning"
)

// cliffProfile names a file for a CPU profile of the measured phase of
// BenchmarkReplicaWorkload alone (go test's -cpuprofile also covers the
// prefill).
var cliffProfile = flag.String("cliff.cpuprofile", "", "write a CPU profile of BenchmarkReplicaWorkload's measured phase to this file (the last sub-benchmark run wins)")

// cliffVariant is one storage configuration BenchmarkReplicaWorkload runs.
type cliffVariant struct {
	name  string
	json  bool // JSON documents instead of random bytes
	cache int  // StoreOptions.CacheBytes; 0: the default
	opts  func(*LevelDBOptions)
}

// beforeTuning are the LevelDBOptions before the 300 000-key tuning
// (docs/benchmarks.md): goleveldb's defaults but for an 8 MiB write buffer,
// a 32 MiB block cache and a bloom filter.
func beforeTuning(o *LevelDBOptions) {
	*o = LevelDBOptions{
		BlockCacheSize:  32 << 20,
		WriteBufferSize: 8 << 20,
		BloomBitsPerKey: 10,
		TableSize:       2 << 20,
		LevelSize:       100 << 20,
		Compression:     CompressSnappy,
		SeekCompaction:  true,
	}
}

// cliffVariants are the configurations compared in docs/benchmarks.md,
// "300 000 keys: storage tuning": the old defaults (with the old 32 MiB
// object cache), each change alone on top of them, and the new defaults.
var cliffVariants = []cliffVariant{
	{name: "before", cache: 32 << 20, opts: beforeTuning},
	{name: "wbuf=32M", opts: func(o *LevelDBOptions) { beforeTuning(o); o.WriteBufferSize = 32 << 20 }},
	{name: "wbuf=64M", opts: func(o *LevelDBOptions) { beforeTuning(o); o.WriteBufferSize = 64 << 20 }},
	{name: "table=8M", opts: func(o *LevelDBOptions) { beforeTuning(o); o.TableSize = 8 << 20 }},
	{name: "level1=640M", opts: func(o *LevelDBOptions) { beforeTuning(o); o.LevelSize = 640 << 20 }},
	{name: "wbuf=64M,level1=640M", opts: func(o *LevelDBOptions) { beforeTuning(o); o.WriteBufferSize, o.LevelSize = 64<<20, 640<<20 }},
	{name: "nocompress", opts: func(o *LevelDBOptions) { beforeTuning(o); o.Compression = CompressNone }},
	{name: "noseekcomp", opts: func(o *LevelDBOptions) { beforeTuning(o); o.SeekCompaction = false }},
	{name: "blockcache=256M", opts: func(o *LevelDBOptions) { beforeTuning(o); o.BlockCacheSize = 256 << 20 }},
	{name: "objcache=off", cache: -1, opts: beforeTuning},
	{name: "objcache=256M", cache: 256 << 20, opts: beforeTuning},
	{name: "after,objcache=32M", cache: 32 << 20, opts: func(*LevelDBOptions) {}},
	{name: "after", opts: func(*LevelDBOptions) {}},
	{name: "json-before", json: true, cache: 32 << 20, opts: beforeTuning},
	{name: "json-nocompress", json: true, cache: 32 << 20, opts: func(o *LevelDBOptions) { beforeTuning(o); o.Compression = CompressNone }},
	{name: "json-after", json: true, opts: func(*LevelDBOptions) {}},
}

// countingEngine counts the Gets that reach the engine (the Store's object
// cache missed).
type countingEngine struct {
	*LevelDB
	gets atomic.Int64
}

func (c *countingEngine) Get(key []byte) ([]byte, error) {
	c.gets.Add(1)
	return c.LevelDB.Get(key)
}

// cliffCounters is what goleveldb and the wrapper count, at one moment.
type cliffCounters struct {
	ioRead, ioWrite     uint64 // every byte goleveldb read and wrote through its storage
	compRead, compWrite int64  // of which flushes and compactions
	blockHit, blockMiss int64
	fileHit, fileMiss   int64 // table lookups (one per table a read looks at)
	memComp, l0Comp     uint32
	nonL0Comp, seekComp uint32
	engineGets          int64
	tableBytes, tables  int64
	levels              int
	writeDelays         int32
}

func readCliffCounters(b *testing.B, e *countingEngine) cliffCounters {
	var st leveldb.DBStats
	if err := e.db.Load().Stats(&st); err != nil {
		b.Fatal(err)
	}
	c := cliffCounters{
		ioRead: st.IORead, ioWrite: st.IOWrite,
		compRead: st.LevelRead.Sum(), compWrite: st.LevelWrite.Sum(),
		blockHit: st.BlockCache.HitCount, blockMiss: st.BlockCache.MissCount,
		fileHit: st.FileCache.HitCount, fileMiss: st.FileCache.MissCount,
		memComp: st.MemComp, l0Comp: st.Level0Comp, nonL0Comp: st.NonLevel0Comp, seekComp: st.SeekComp,
		engineGets: e.gets.Load(), tableBytes: st.LevelSizes.Sum(), writeDelays: st.WriteDelayCount,
	}
	for i, n := range st.LevelTablesCounts {
		c.tables += int64(n)
		if n > 0 {
			c.levels = i + 1
		}
	}
	return c
}

// waitCompactions returns once goleveldb has written nothing for a second
// (it compacts until no level needs it): the measured phase starts from a
// settled database, and its counters include the compactions its own
// writes caused, whatever the machine's load did to their timing.
func waitCompactions(b *testing.B, e *countingEngine) {
	deadline := time.Now().Add(5 * time.Minute)
	last, quiet := readCliffCounters(b, e), 0
	for quiet < 5 {
		if time.Now().After(deadline) {
			b.Fatal("goleveldb still compacting after 5 minutes")
		}
		time.Sleep(200 * time.Millisecond)
		c := readCliffCounters(b, e)
		if c.ioWrite == last.ioWrite {
			quiet++
		} else {
			quiet = 0
		}
		last = c
	}
}

// cliffValues returns n distinct values of about size bytes: random bytes
// (as the side-by-side load generator writes) or JSON documents.
func cliffValues(n, size int, asJSON bool, rng *rand.Rand) [][]byte {
	out := make([][]byte, n)
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"}
	for i := range out {
		if !asJSON {
			v := make([]byte, size)
			for j := range v {
				v[j] = byte(rng.Uint32())
			}
			out[i] = v
			continue
		}
		// A user record: ids, names, timestamps, flags and a few free-text
		// fields, as an application stores them.
		type item struct {
			SKU   string  `json:"sku"`
			Qty   int     `json:"qty"`
			Price float64 `json:"price"`
		}
		doc := map[string]any{
			"id": rng.Uint64(), "user": fmt.Sprintf("user-%d", rng.IntN(1_000_000)),
			"email":   fmt.Sprintf("%s.%s@example.com", words[rng.IntN(len(words))], words[rng.IntN(len(words))]),
			"created": 1_700_000_000 + rng.IntN(100_000_000), "active": rng.IntN(2) == 0,
			"tags": []string{words[rng.IntN(len(words))], words[rng.IntN(len(words))]},
		}
		var items []item
		for len(mustJSON(doc)) < size-60 {
			items = append(items, item{SKU: "sku-" + strconv.Itoa(rng.IntN(100_000)), Qty: 1 + rng.IntN(9), Price: float64(rng.IntN(100_000)) / 100})
			doc["items"] = items
		}
		out[i] = mustJSON(doc)
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func cliffKey(i int) Key {
	k := "key-" + strconv.Itoa(i)
	return Key{Hash: xxhash.Sum64String(k), Bucket: "bench", Key: k}
}

// cliffClock is the state of a key after a write of value by actor at
// counter.
func cliffClock(actor versioning.ActorID, counter uint64, value []byte, contentType string) versioning.Clock {
	return versioning.Clock{Entries: []versioning.Entry{{
		Actor: actor, Counter: counter,
		Values: []versioning.Value{{Data: value, ContentType: contentType, LastModified: 1_700_000_000_000_000_000 + int64(counter)}},
	}}}
}

// BenchmarkReplicaWorkload is what one node's storage does under the
// side-by-side load (3 nodes, N=3, 50/50 GET/PUT, 1 KiB values): every
// node holds every key, every client GET reads each replica once and every
// client PUT makes each replica read its object and write a successor. It
// prefills keys objects through a Store on goleveldb, then runs a uniform
// random mix of 50 % Store.Get and 50 % read-modify-writes (Lock, Get, Put
// of a successor, as the replica merge does), and reports load-independent
// counters per op (an op is one Get or one read-modify-write):
//
//	wamp          bytes goleveldb wrote (journal, flushes, compactions) per byte Put
//	compW-B/op    bytes written by flushes and compactions
//	getR-B/get    bytes read from table files per engine Get (all reads not made by compactions)
//	engGets/op    Gets that reached goleveldb (the object cache missed)
//	blockhit-%    goleveldb block cache hit rate
//	tables/get    table lookups per engine Get (each table whose range holds the key)
//	comps/kop     flushes and compactions per 1000 ops (seekcomps/kop: those triggered by reads)
//	tableMB       size of the table files at the end (compression shows here)
//	levels        levels holding tables at the end
//
// The counters cover the measured phase only: it starts once the prefill's
// compactions are done and ends once its own are (ns/op covers the ops
// alone). For figures that compare, run a fixed number of ops (-benchtime
// 300000x). Skipped with -short.
//
//	go test ./storage -run '^$' -bench 'ReplicaWorkload/keys=300000/after$' -benchtime 300000x -benchmem
//	go test ./storage -run '^$' -bench 'ReplicaWorkload/keys=300000/before$' -benchtime 300000x -cliff.cpuprofile /tmp/before.prof
func BenchmarkReplicaWorkload(b *testing.B) {
	if testing.Short() {
		b.Skip("prefills up to 300 MB of goleveldb tables")
	}
	for _, keys := range []int{10_000, 300_000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			for _, v := range cliffVariants {
				b.Run(v.name, func(b *testing.B) { benchReplicaWorkload(b, keys, v) })
			}
		})
	}
}

func benchReplicaWorkload(b *testing.B, keys int, v cliffVariant) {
	const valueSize = 1 << 10
	dir := b.TempDir()
	var lo LevelDBOptions
	v.opts(&lo)
	l, err := OpenLevelDB(filepath.Join(dir, "db"), lo)
	if err != nil {
		b.Fatal(err)
	}
	e := &countingEngine{LevelDB: l}
	so := DefaultStoreOptions()
	if v.cache != 0 {
		so.CacheBytes = v.cache
	}
	so.BlobDir = filepath.Join(dir, "blobs")
	s, err := NewStoreOptions(e, so)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })

	rng := rand.New(rand.NewPCG(7, uint64(keys)))
	contentType := "application/octet-stream"
	if v.json {
		contentType = "application/json"
	}
	values := cliffValues(1024, valueSize, v.json, rng)
	const actor = versioning.ActorID(0x9e3779b97f4a7c14)
	ks := make([]Key, keys)
	for i := range keys {
		ks[i] = cliffKey(i)
		if err := s.Put(ks[i], cliffClock(actor, 1, values[i%len(values)], contentType), false); err != nil {
			b.Fatal(err)
		}
	}

	if *cliffProfile != "" {
		f, err := os.Create(*cliffProfile)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	waitCompactions(b, e)
	before := readCliffCounters(b, e)
	var putBytes, ops int64
	b.ReportAllocs()
	for b.Loop() {
		k := ks[rng.IntN(keys)]
		ops++
		if rng.IntN(2) == 0 {
			if _, err := s.Get(k); err != nil {
				b.Fatal(err)
			}
			continue
		}
		unlock := s.Lock(k)
		cur, err := s.Get(k)
		if err != nil {
			b.Fatal(err)
		}
		next := cliffClock(actor, cur.Entries[0].Counter+1, values[rng.IntN(len(values))], contentType)
		if err := s.Put(k, next, false); err != nil {
			b.Fatal(err)
		}
		unlock()
		putBytes += int64(objectSize(next) + 10 + len(k.Bucket) + len(k.Key))
	}
	b.StopTimer()
	waitCompactions(b, e)
	after := readCliffCounters(b, e)

	engGets := after.engineGets - before.engineGets
	n := float64(ops)
	b.ReportMetric(float64(after.ioWrite-before.ioWrite)/float64(max(putBytes, 1)), "wamp")
	b.ReportMetric(float64(after.compWrite-before.compWrite)/n, "compW-B/op")
	// Compaction reads are counted as their input tables' sizes, so the
	// difference is an estimate; with no engine Get it is meaningless.
	getRead := max(int64(after.ioRead-before.ioRead)-(after.compRead-before.compRead), 0)
	if engGets == 0 {
		getRead = 0
	}
	b.ReportMetric(float64(getRead)/float64(max(engGets, 1)), "getR-B/get")
	b.ReportMetric(float64(engGets)/n, "engGets/op")
	hits, misses := after.blockHit-before.blockHit, after.blockMiss-before.blockMiss
	b.ReportMetric(100*float64(hits)/float64(max(hits+misses, 1)), "blockhit-%")
	lookups := after.fileHit - before.fileHit + after.fileMiss - before.fileMiss
	if engGets == 0 {
		lookups = 0 // compactions' own lookups
	}
	b.ReportMetric(float64(lookups)/float64(max(engGets, 1)), "tables/get")
	comps := (after.memComp - before.memComp) + (after.l0Comp - before.l0Comp) + (after.nonL0Comp - before.nonL0Comp) + (after.seekComp - before.seekComp)
	b.ReportMetric(1000*float64(comps)/n, "comps/kop")
	b.ReportMetric(1000*float64(after.seekComp-before.seekComp)/n, "seekcomps/kop")
	b.ReportMetric(float64(after.tableBytes)/(1<<20), "tableMB")
	b.ReportMetric(float64(after.levels), "levels")
	b.ReportMetric(float64(after.writeDelays-before.writeDelays), "writedelays")
}
