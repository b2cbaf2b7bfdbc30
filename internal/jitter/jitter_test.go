package jitter

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	const d = 5 * time.Second
	for _, tc := range []struct {
		f, r float64
		want time.Duration
	}{
		{0.2, 0, 4 * time.Second},
		{0.2, 0.5, d},
		{0.2, 0.75, 5500 * time.Millisecond},
		{0.1, 0, 4500 * time.Millisecond},
		{0, 0.9, d},
	} {
		if got := Duration(d, tc.f, func() float64 { return tc.r }); got != tc.want {
			t.Errorf("Duration(%v, %v) with %v = %v, want %v", d, tc.f, tc.r, got, tc.want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		if got := Duration(d, 0.2, rng.Float64); got < 4*time.Second || got > 6*time.Second {
			t.Fatalf("Duration(%v, 0.2) = %v, outside ±20%%", d, got)
		}
	}
}
