package bench

import (
	"math/rand/v2"
	"strconv"
)

// The shape of the load follows ../shared/bench's loadgen, the side-by-side
// definition, so that both report the same figures for the same flags: the
// same key names, the same value bytes and the same sequence of keys,
// operations and values per worker for a given seed.

// appendKey appends key number k's name, "key{k}".
func appendKey(b []byte, k int) []byte {
	b = append(b, "key"...)
	return strconv.AppendInt(b, int64(k), 10)
}

// newValues returns the values the run writes: distinct random bytes, so
// that consecutive writes repeat nothing a compressing store could exploit.
// It holds about 32 MiB (at least 16 values, at most 1024), all drawn from
// seed, read-only once made.
func newValues(size int, seed uint64) [][]byte {
	n := min(max(32<<20/max(size, 1), 16), 1024)
	rng := rand.New(rand.NewPCG(seed, 0x76616c756573))
	buf := make([]byte, n*size)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	vals := make([][]byte, n)
	for i := range vals {
		vals[i] = buf[i*size : (i+1)*size : (i+1)*size]
	}
	return vals
}

// workerRand returns worker id's source of keys, operations and values.
func workerRand(seed uint64, id int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(id)+1))
}
