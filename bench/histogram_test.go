package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogram_bucketBounds(t *testing.T) {
	vals := []int64{0, 1, 2, 127, 128, 129, 255, 256, 257, 1000, 1 << 20, 1<<20 - 1, 1<<40 + 12345, math.MaxInt64}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		vals = append(vals, rng.Int64N(1<<rng.IntN(63)+1))
	}
	for _, v := range vals {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of [0, %d)", v, i, numBuckets)
		}
		lo, w := bucketRange(i)
		if v < lo || v-lo >= w {
			t.Errorf("value %d in bucket %d = [%d, %d+%d)", v, i, lo, lo, w)
		}
		// The midpoint stands for the bucket: it must be within 1% of
		// every value in it.
		if mid := lo + w/2; math.Abs(float64(mid-v))/float64(max(v, 1)) > 0.01 {
			t.Errorf("value %d: bucket %d = [%d, +%d) has its midpoint %d off by over 1%%", v, i, lo, w, mid)
		}
	}
	// Buckets tile the values: each starts where the previous one ends.
	for i := 1; i < numBuckets; i++ {
		plo, pw := bucketRange(i - 1)
		lo, _ := bucketRange(i)
		if plo+pw != lo {
			t.Fatalf("bucket %d starts at %d, bucket %d ends at %d", i, lo, i-1, plo+pw)
		}
		if bucketOf(lo) != i || bucketOf(lo-1) != i-1 {
			t.Fatalf("bucket %d: bucketOf(%d) = %d, bucketOf(%d) = %d", i, lo, bucketOf(lo), lo-1, bucketOf(lo-1))
		}
	}
}

// exactQuantile is the nearest-rank quantile of sorted values.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func TestHistogram_quantilesWithinOnePercent(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	dists := []struct {
		name string
		gen  func() time.Duration
	}{
		{"uniform 1us-100ms", func() time.Duration {
			return time.Microsecond + time.Duration(rng.Int64N(int64(100*time.Millisecond)))
		}},
		{"lognormal around 2ms", func() time.Duration {
			return time.Duration(2e6 * math.Exp(rng.NormFloat64()))
		}},
		{"bimodal 200us and 50ms", func() time.Duration {
			if rng.IntN(100) < 95 {
				return 200*time.Microsecond + time.Duration(rng.Int64N(20000))
			}
			return 50*time.Millisecond + time.Duration(rng.Int64N(int64(time.Millisecond)))
		}},
		{"small exact values", func() time.Duration { return time.Duration(rng.Int64N(200)) }},
		{"constant", func() time.Duration { return 1234567 }},
	}
	qs := []float64{0, 0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 1}
	for _, d := range dists {
		t.Run(d.name, func(t *testing.T) {
			var h Histogram
			vals := make([]time.Duration, 100000)
			for i := range vals {
				vals[i] = d.gen()
				h.Record(vals[i])
			}
			slices.Sort(vals)
			for _, q := range qs {
				got, want := h.Quantile(q), exactQuantile(vals, q)
				if rel := math.Abs(float64(got-want)) / float64(max(want, 1)); rel > 0.01 {
					t.Errorf("q%.3f = %v, exact %v: off by %.2f%%", q, got, want, 100*rel)
				}
			}
			if h.Min() != vals[0] || h.Max() != vals[len(vals)-1] || h.Count() != int64(len(vals)) {
				t.Errorf("min %v max %v count %d, want %v %v %d", h.Min(), h.Max(), h.Count(), vals[0], vals[len(vals)-1], len(vals))
			}
			var sum float64
			for _, v := range vals {
				sum += float64(v)
			}
			if want := time.Duration(math.Round(sum / float64(len(vals)))); h.Mean() != want {
				t.Errorf("mean %v, want %v", h.Mean(), want)
			}
		})
	}
}

func TestHistogram_knownDistribution(t *testing.T) {
	// 1ms, 2ms, ..., 1000ms: the nearest-rank p50 is 500ms, p99 990ms.
	var h Histogram
	for i := 1000; i >= 1; i-- {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.9, 900 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {0.999, 999 * time.Millisecond}, {1, time.Second}} {
		got := h.Quantile(c.q)
		if rel := math.Abs(float64(got-c.want)) / float64(c.want); rel > 0.01 {
			t.Errorf("q%v = %v, want %v ± 1%%", c.q, got, c.want)
		}
	}
	if h.Quantile(1) != time.Second || h.Quantile(0) != time.Millisecond {
		t.Errorf("extremes %v, %v; want the exact min and max", h.Quantile(0), h.Quantile(1))
	}
}

func TestHistogram_merge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var whole Histogram
	parts := make([]Histogram, 5)
	for range 50000 {
		v := time.Duration(rng.Int64N(int64(time.Second)))
		whole.Record(v)
		parts[rng.IntN(len(parts))].Record(v)
	}
	var merged Histogram
	merged.Merge(&Histogram{}) // an empty one changes nothing
	for i := range parts {
		merged.Merge(&parts[i])
	}
	if merged.Count() != whole.Count() || merged.Min() != whole.Min() || merged.Max() != whole.Max() ||
		!slices.Equal(merged.counts, whole.counts) || math.Abs(float64(merged.Mean()-whole.Mean())) > 1 {
		t.Errorf("merged histogram differs from the whole: count %d/%d min %v/%v max %v/%v mean %v/%v",
			merged.Count(), whole.Count(), merged.Min(), whole.Min(), merged.Max(), whole.Max(), merged.Mean(), whole.Mean())
	}
}

func TestHistogram_empty(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Max() != 0 || h.Min() != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Errorf("empty histogram reports non-zero values")
	}
	h.Record(-5)
	if h.Max() != 0 || h.Count() != 1 {
		t.Errorf("negative duration: max %v count %d, want 0 and 1", h.Max(), h.Count())
	}
}
