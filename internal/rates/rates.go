// Package rates keeps what the dashboard plots: latency histograms cheap
// enough for every request (one atomic add), their per-interval deltas and
// quantiles, and a fixed-length window of the last samples. It reads no
// clock and starts no goroutine: the node samples it on its own ticker.
package rates

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Buckets: values below 8 ns have a bucket each; above, every power of two
// is split into 8 buckets of equal width, so a bucket's width is at most
// 1/8 of its lower bound and its midpoint is within 6.25 % of any value in
// it. The last bucket, from 2^36 + 7*2^33 ns (about 129 s), also holds
// every larger value.
const (
	subBits    = 3
	subBuckets = 1 << subBits
	maxExp     = 36
	// NumBuckets is the number of buckets of a [Hist].
	NumBuckets = (maxExp-subBits+1)*subBuckets + subBuckets
)

// bucketOf returns the bucket of a value in nanoseconds.
func bucketOf(ns int64) int {
	if ns < subBuckets {
		return int(max(ns, 0))
	}
	e := bits.Len64(uint64(ns)) - 1 // 2^e <= ns < 2^(e+1), e >= subBits
	if e > maxExp {
		return NumBuckets - 1
	}
	sub := int(ns>>(e-subBits)) & (subBuckets - 1)
	return (e-subBits+1)*subBuckets + sub
}

// bounds returns bucket b's lower bound and width in nanoseconds.
func bounds(b int) (lo, width int64) {
	if b < subBuckets {
		return int64(b), 1
	}
	e := b/subBuckets + subBits - 1
	sub := int64(b % subBuckets)
	width = int64(1) << (e - subBits)
	return int64(1)<<e + sub*width, width
}

// Hist is a latency histogram safe for concurrent use; the zero value is
// empty. It only grows: take [Hist.Load] snapshots and subtract them for an
// interval.
type Hist struct {
	b [NumBuckets]atomic.Uint64
}

// Observe records one duration (negative ones as 0).
func (h *Hist) Observe(d time.Duration) {
	h.b[bucketOf(int64(d))].Add(1)
}

// Load copies the counts into s.
func (h *Hist) Load(s *Counts) {
	for i := range h.b {
		s[i] = h.b[i].Load()
	}
}

// Counts is a snapshot of a [Hist], or the difference of two.
type Counts [NumBuckets]uint64

// Sub returns s minus an earlier snapshot of the same histogram.
func (s *Counts) Sub(earlier *Counts) Counts {
	var d Counts
	for i := range s {
		if s[i] > earlier[i] {
			d[i] = s[i] - earlier[i]
		}
	}
	return d
}

// Total is the number of values counted.
func (s *Counts) Total() uint64 {
	var n uint64
	for _, c := range s {
		n += c
	}
	return n
}

// Quantile returns the q-quantile (0 < q <= 1) of the values counted: the
// midpoint of the bucket holding the value of rank ceil(q*Total). It is 0
// when nothing is counted.
func (s *Counts) Quantile(q float64) time.Duration {
	total := s.Total()
	if total == 0 {
		return 0
	}
	rank := uint64(q * float64(total))
	if float64(rank) < q*float64(total) {
		rank++
	}
	rank = min(max(rank, 1), total)
	var seen uint64
	for b, c := range s {
		seen += c
		if seen >= rank {
			lo, w := bounds(b)
			return time.Duration(lo + w/2)
		}
	}
	return 0 // not reached
}

// Window keeps the last n values pushed, oldest first. It is not safe for
// concurrent use.
type Window[T any] struct {
	buf  []T
	next int // where the next value goes
	full bool
}

// NewWindow returns an empty window of n values (n >= 1).
func NewWindow[T any](n int) *Window[T] {
	return &Window[T]{buf: make([]T, max(n, 1))}
}

// Push appends v, dropping the oldest value when the window is full.
func (w *Window[T]) Push(v T) {
	w.buf[w.next] = v
	w.next++
	if w.next == len(w.buf) {
		w.next, w.full = 0, true
	}
}

// Len is the number of values held.
func (w *Window[T]) Len() int {
	if w.full {
		return len(w.buf)
	}
	return w.next
}

// All returns the values held, oldest first, in a new slice.
func (w *Window[T]) All() []T {
	if !w.full {
		return append([]T(nil), w.buf[:w.next]...)
	}
	return append(append(make([]T, 0, len(w.buf)), w.buf[w.next:]...), w.buf[:w.next]...)
}
