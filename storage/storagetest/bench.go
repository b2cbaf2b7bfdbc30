package storagetest

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/dynamod/dynamod/storage"
)

// Value sizes every benchmark runs at.
var benchSizes = []int{100, 1 << 10, 16 << 10}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("value=%dKiB", n>>10)
	}
	return fmt.Sprintf("value=%dB", n)
}

// benchKey writes a key shaped like an object key: 'o', an 8-byte hash and
// a short bucket and key.
func benchKey(dst []byte, h uint64) []byte {
	dst = append(dst[:0], 'o')
	dst = binary.BigEndian.AppendUint64(dst, h)
	return append(dst, "\x06bucketkey-0001"...)
}

// benchPreload writes keys with hashes 0..n-1 spread over the hash space and
// returns how many it wrote: enough for about 64 MiB of values.
func benchPreload(b *testing.B, e storage.Engine, size int) (n int, stride uint64) {
	n = min(10_000, (64<<20)/size)
	stride = ^uint64(0) / uint64(n)
	val := make([]byte, size)
	randomFill(val, 8)
	var batch storage.Batch
	var key []byte
	for i := range n {
		key = benchKey(key, uint64(i)*stride)
		batch.Put(key, val)
		if batch.Len() == 100 || i == n-1 {
			if err := e.Write(&batch, false); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
	return n, stride
}

// Bench runs the storage benchmarks against engines from open, which must
// return a new, empty engine per call; Bench closes them. Sub-benchmarks:
//
//	Put/value=…      unsynced writes of random keys
//	PutSync/value=…  writes with sync (an fsync each on a disk engine)
//	Get/value=…      reads of random present keys
//	Scan/value=…     range scans of 100 consecutive keys per op
//
// For example: go test ./storage -run '^$' -bench 'Engine/leveldb' -benchtime 1s
func Bench(b *testing.B, open func(b *testing.B) storage.Engine) {
	e := func(b *testing.B) storage.Engine {
		eng := open(b)
		b.Cleanup(func() {
			if err := eng.Close(); err != nil {
				b.Errorf("Close: %v", err)
			}
		})
		return eng
	}
	for _, sync := range []bool{false, true} {
		name := "Put"
		if sync {
			name = "PutSync"
		}
		b.Run(name, func(b *testing.B) {
			for _, size := range benchSizes {
				b.Run(sizeName(size), func(b *testing.B) { benchPut(b, e(b), size, sync) })
			}
		})
	}
	b.Run("Get", func(b *testing.B) {
		for _, size := range benchSizes {
			b.Run(sizeName(size), func(b *testing.B) { benchGet(b, e(b), size) })
		}
	})
	b.Run("Scan", func(b *testing.B) {
		for _, size := range benchSizes {
			b.Run(sizeName(size), func(b *testing.B) { benchScan(b, e(b), size) })
		}
	})
}

func benchPut(b *testing.B, e storage.Engine, size int, sync bool) {
	rng := rand.New(rand.NewPCG(9, 10))
	val := make([]byte, size)
	randomFill(val, 10)
	var key []byte
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		key = benchKey(key, rng.Uint64())
		if err := e.Put(key, val, sync); err != nil {
			b.Fatal(err)
		}
	}
}

func benchGet(b *testing.B, e storage.Engine, size int) {
	n, stride := benchPreload(b, e, size)
	rng := rand.New(rand.NewPCG(11, 12))
	var key []byte
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		key = benchKey(key, uint64(rng.IntN(n))*stride)
		v, err := e.Get(key)
		if err != nil {
			b.Fatal(err)
		}
		if len(v) != size {
			b.Fatalf("Get returned %d bytes, want %d", len(v), size)
		}
	}
}

func benchScan(b *testing.B, e storage.Engine, size int) {
	const perScan = 100
	n, stride := benchPreload(b, e, size)
	rng := rand.New(rand.NewPCG(13, 14))
	var start []byte
	b.SetBytes(int64(perScan * size))
	b.ReportAllocs()
	for b.Loop() {
		start = benchKey(start, uint64(rng.IntN(n-perScan))*stride)
		seen := 0
		err := e.Scan(start, nil, func(k, v []byte) error {
			seen++
			if seen == perScan {
				return errStopScan
			}
			return nil
		})
		if err != errStopScan {
			b.Fatalf("Scan = %v after %d keys", err, seen)
		}
	}
}

// randomFill fills b with incompressible bytes, so snappy in goleveldb does
// not shrink the benchmark's values.
func randomFill(b []byte, seed byte) {
	var s [32]byte
	s[0] = seed
	_, _ = rand.NewChaCha8(s).Read(b)
}

var errStopScan = fmt.Errorf("storagetest: enough")
