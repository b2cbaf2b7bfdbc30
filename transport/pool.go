package transport

import (
	"math/bits"
	"sync"
)

// Request bodies on the serving side live only while the handler runs, so
// their buffers are pooled by power-of-two size class, from 256 B to 1 MiB.
// Larger bodies are allocated and left to the garbage collector.
const (
	minPoolShift = 8
	maxPoolShift = 20
)

var bodyPools [maxPoolShift - minPoolShift + 1]sync.Pool

func poolClass(n int) int {
	if n <= 1<<minPoolShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minPoolShift
}

// getBuf returns a buffer of length n. Pass it to putBuf when done.
func getBuf(n int) *[]byte {
	if n > 1<<maxPoolShift {
		b := make([]byte, n)
		return &b
	}
	c := poolClass(n)
	if p, ok := bodyPools[c].Get().(*[]byte); ok {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n, 1<<(c+minPoolShift))
	return &b
}

// putBuf returns a buffer from getBuf to its pool (nil: nothing to do). The
// caller must not use it afterwards.
func putBuf(p *[]byte) {
	if p == nil {
		return
	}
	c := cap(*p)
	if c > 1<<maxPoolShift || c < 1<<minPoolShift || c&(c-1) != 0 {
		return
	}
	bodyPools[bits.Len(uint(c))-1-minPoolShift].Put(p)
}
