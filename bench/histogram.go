package bench

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: every power-of-two range of
// values is split into 2^subBits equal buckets, so a bucket is at most
// 1/2^subBits = 0.78% of its values wide.
const subBits = 7

const (
	subCount = 1 << subBits
	// numBuckets covers every non-negative int64: values below subCount get
	// a bucket each, then 64-subBits-1 ranges of subCount buckets.
	numBuckets = (64 - subBits) * subCount
)

// Histogram records durations in log-linear buckets, like HdrHistogram: a
// quantile it reports is within 1% of the exact one (0.4% for the bucket
// midpoint it uses, clamped to the recorded minimum and maximum). The zero
// value is empty and ready to use. It is not safe for concurrent use: each
// worker owns one, and they are merged at the end.
type Histogram struct {
	counts []uint64 // allocated on first use; numBuckets long
	n      uint64
	sum    float64 // of nanoseconds, for the mean
	min    int64
	max    int64
}

// bucketOf returns the bucket index of v >= 0.
func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits - 1
	return shift*subCount + int(v>>shift)
}

// bucketRange returns the smallest value of bucket i and the bucket's width.
func bucketRange(i int) (lo, width int64) {
	if i < 2*subCount {
		return int64(i), 1
	}
	shift := i/subCount - 1
	sub := int64(i%subCount + subCount)
	return sub << shift, 1 << shift
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of recorded values.
func (h *Histogram) Count() int64 { return int64(h.n) }

// Min returns the smallest recorded value, exactly; 0 when empty.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max returns the largest recorded value, exactly; 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the mean of the recorded values; 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(math.Round(h.sum / float64(h.n)))
}

// Quantile returns the value at quantile q in [0, 1] by the nearest-rank
// rule: the smallest value at or above a fraction q of the values. The
// extremes (q = 0 and q = 1) are exact. It returns 0 when the histogram is
// empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	switch rank {
	case 1:
		return time.Duration(h.min)
	case h.n:
		return time.Duration(h.max)
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := bucketRange(i)
			return time.Duration(min(max(lo+w/2, h.min), h.max))
		}
	}
	return time.Duration(h.max) // unreachable: the counts add up to n
}
