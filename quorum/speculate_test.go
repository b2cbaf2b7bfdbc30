package quorum

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// lookups counts n reads that may speculate and returns the delay then.
func lookups(s *speculation, n int) time.Duration {
	for range n {
		s.tick()
	}
	return s.current()
}

// TestSpeculation_adapts: the delay is the ceiling until enough round
// trips are seen, then their 0.9 quantile (bucket precision), clamped to
// [MinSpeculativeRead, DefaultSpeculativeRead]; it follows the round trips
// of the latest window, and a window with too few keeps the last delay.
func TestSpeculation_adapts(t *testing.T) {
	var s speculation
	if d := s.current(); d != DefaultSpeculativeRead {
		t.Fatalf("delay before any round trip = %v, want %v", d, DefaultSpeculativeRead)
	}
	// 1..10 ms, 100 of each: the 0.9 quantile is 9 ms.
	for ms := 1; ms <= 10; ms++ {
		for range 100 {
			s.observe(time.Duration(ms) * time.Millisecond)
		}
	}
	d := lookups(&s, speculateEvery)
	if d < 8500*time.Microsecond || d > 9600*time.Microsecond {
		t.Fatalf("delay over 1..10 ms = %v, want about 9 ms", d)
	}
	// Fewer than speculateMinSamples new round trips: unchanged.
	for range speculateMinSamples - 1 {
		s.observe(40 * time.Millisecond)
	}
	if got := lookups(&s, speculateEvery); got != d {
		t.Fatalf("delay after %d new round trips = %v, want it kept at %v", speculateMinSamples-1, got, d)
	}
	// Fast replicas: the floor. Slow ones: the ceiling.
	for range 1000 {
		s.observe(50 * time.Microsecond)
	}
	if got := lookups(&s, speculateEvery); got != MinSpeculativeRead {
		t.Fatalf("delay over 50 µs round trips = %v, want the floor %v", got, MinSpeculativeRead)
	}
	for range 1000 {
		s.observe(time.Second)
	}
	if got := lookups(&s, speculateEvery); got != DefaultSpeculativeRead {
		t.Fatalf("delay over 1 s round trips = %v, want the ceiling %v", got, DefaultSpeculativeRead)
	}
}

// TestSpeculation_gauge: the coordinator exports its current delay, the
// fixed one when configured.
func TestSpeculation_gauge(t *testing.T) {
	for _, fixed := range []time.Duration{0, 7 * time.Millisecond} {
		reg := prometheus.NewRegistry()
		c := newSoloCoordinatorWith(t, func(cfg *Config) { cfg.Registry, cfg.SpeculativeRead = reg, fixed })
		want := DefaultSpeculativeRead // adaptive, nothing measured yet
		if fixed > 0 {
			want = fixed
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var got float64 = -1
		for _, mf := range mfs {
			if mf.GetName() == "dynamod_quorum_speculative_read_delay_seconds" {
				got = mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		if got != want.Seconds() {
			t.Errorf("fixed %v: gauge %v, want %v", fixed, got, want.Seconds())
		}
		c.Close()
	}
}
