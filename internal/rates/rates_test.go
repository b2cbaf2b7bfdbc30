package rates

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestBuckets: every value falls in the bucket whose bounds hold it,
// buckets are ordered and contiguous, and a bucket is at most an eighth of
// its lower bound wide.
func TestBuckets(t *testing.T) {
	var prevEnd int64
	for b := range NumBuckets - 1 {
		lo, w := bounds(b)
		if lo != prevEnd {
			t.Fatalf("bucket %d starts at %d, the previous ended at %d", b, lo, prevEnd)
		}
		if lo >= subBuckets && w*subBuckets > lo {
			t.Fatalf("bucket %d [%d, +%d) is wider than an eighth of its bound", b, lo, w)
		}
		prevEnd = lo + w
		for _, v := range []int64{lo, lo + w/2, lo + w - 1} {
			if got := bucketOf(v); got != b {
				t.Fatalf("value %d: bucket %d, want %d [%d, +%d)", v, got, b, lo, w)
			}
		}
	}
	if lo, _ := bounds(NumBuckets - 1); lo != prevEnd || lo != 1<<maxExp+7<<(maxExp-subBits) {
		t.Fatalf("last bucket starts at %d, want %d after %d", lo, 1<<maxExp+7<<(maxExp-subBits), prevEnd)
	}
	for _, v := range []int64{1 << 40, 1<<63 - 1} {
		if b := bucketOf(v); b != NumBuckets-1 {
			t.Fatalf("value %d: bucket %d, want the last", v, b)
		}
	}
	if b := bucketOf(-5); b != 0 {
		t.Fatalf("negative value: bucket %d, want 0", b)
	}
}

// TestQuantile: against the exact quantiles of seeded random samples,
// within the bucket precision.
func TestQuantile(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		var h Hist
		n := 1 + rng.IntN(5000)
		vals := make([]int64, n)
		for i := range vals {
			// log-uniform from 1 µs to 10 s
			vals[i] = int64(1e3 * pow10(rng.Float64()*7))
			h.Observe(time.Duration(vals[i]))
		}
		slices.Sort(vals)
		var c Counts
		h.Load(&c)
		if c.Total() != uint64(n) {
			t.Fatalf("trial %d: total %d, want %d", trial, c.Total(), n)
		}
		for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 1} {
			rank := int(q * float64(n))
			if float64(rank) < q*float64(n) {
				rank++
			}
			exact := float64(vals[max(rank, 1)-1])
			got := float64(c.Quantile(q))
			if got < exact*(1-1.0/16)-1 || got > exact*(1+1.0/16)+1 {
				t.Fatalf("trial %d n %d: q%.2f = %.0f, exact %.0f", trial, n, q, got, exact)
			}
		}
	}
	var empty Counts
	if q := empty.Quantile(0.5); q != 0 {
		t.Fatalf("empty: %v", q)
	}
}

func pow10(x float64) float64 {
	r := 1.0
	for x >= 1 {
		r *= 10
		x--
	}
	// 10^x for x in [0, 1) by e^(x ln 10), series is enough here
	y, term := 1.0, 1.0
	for i := 1; i < 30; i++ {
		term *= x * 2.302585092994046 / float64(i)
		y += term
	}
	return r * y
}

// TestSub: an interval's counts are the difference of snapshots, whatever
// was recorded concurrently before.
func TestSub(t *testing.T) {
	var h Hist
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				h.Observe(time.Duration(g*1000+i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	var before, after Counts
	h.Load(&before)
	for range 10 {
		h.Observe(3 * time.Millisecond)
	}
	h.Load(&after)
	d := after.Sub(&before)
	if d.Total() != 10 {
		t.Fatalf("interval total %d, want 10", d.Total())
	}
	if q := d.Quantile(0.5); q < 2900*time.Microsecond || q > 3100*time.Microsecond {
		t.Fatalf("interval median %v, want about 3ms", q)
	}
	if before.Total() != 4000 {
		t.Fatalf("before: %d", before.Total())
	}
}

func TestWindow(t *testing.T) {
	w := NewWindow[int](3)
	if w.Len() != 0 || len(w.All()) != 0 {
		t.Fatal("not empty")
	}
	for i := 1; i <= 2; i++ {
		w.Push(i)
	}
	if got := w.All(); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("%v", got)
	}
	for i := 3; i <= 7; i++ {
		w.Push(i)
	}
	if got := w.All(); !slices.Equal(got, []int{5, 6, 7}) || w.Len() != 3 {
		t.Fatalf("%v", got)
	}
	got := w.All()
	got[0] = 99
	if w.All()[0] != 5 {
		t.Fatal("All shares the window's buffer")
	}
}

func BenchmarkObserve(b *testing.B) {
	var h Hist
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(0)
		for pb.Next() {
			d += 1013
			h.Observe(d % (50 * time.Millisecond))
		}
	})
}
