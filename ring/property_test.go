package ring

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// Property tests against the naive reference in ref_test.go. Every test draws
// its cases from a seeded math/rand/v2 source and logs the seed, so a failure
// replays exactly: go test -run NAME -seed N ./ring/

var seed = flag.Uint64("seed", 20240611, "seed of the ring property tests")

func newRand(t *testing.T) *rand.Rand {
	t.Logf("seed %d", *seed)
	return rand.New(rand.NewPCG(*seed, xxhash.Sum64String(t.Name())))
}

// randomNames returns s distinct non-empty names, some readable, some
// arbitrary bytes.
func randomNames(rng *rand.Rand, s int) []string {
	seen := map[string]bool{}
	var out []string
	for len(out) < s {
		var name string
		if rng.IntN(2) == 0 {
			name = fmt.Sprintf("node-%d", rng.IntN(1000))
		} else {
			b := make([]byte, 1+rng.IntN(12))
			for i := range b {
				b[i] = byte(rng.UintN(256))
			}
			name = string(b)
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

// randomConfig returns a small config, bounded or plain.
func randomConfig(rng *rand.Rand, bounded bool) Config {
	cfg := Config{
		Partitions: 1 << rng.IntN(9), // 1 … 256
		Tokens:     1 + rng.IntN(32),
	}
	if bounded {
		cfg.NVal = 1 + rng.IntN(4)
		cfg.MaxLoad = []float64{1, 1.05, 1.1, 1.5}[rng.IntN(4)]
	}
	return cfg
}

func TestRing_joinOrderIrrelevant(t *testing.T) {
	rng := newRand(t)
	for i := range 60 {
		cfg := randomConfig(rng, i%2 == 0)
		names := randomNames(rng, rng.IntN(20))
		mixed := slices.Clone(names)
		for range rng.IntN(5) { // duplicates
			if len(names) > 0 {
				mixed = append(mixed, names[rng.IntN(len(names))])
			}
		}
		rng.Shuffle(len(mixed), func(i, j int) { mixed[i], mixed[j] = mixed[j], mixed[i] })
		a, b := mustNew(t, cfg, names), mustNew(t, cfg, mixed)
		if !slices.Equal(a.Members(), b.Members()) {
			t.Fatalf("%+v: Members differ: %q vs %q", cfg, a.Members(), b.Members())
		}
		for p := range cfg.Partitions {
			if !slices.Equal(a.Walk(p), b.Walk(p)) {
				t.Fatalf("%+v, members %q: Walk(%d) = %q, with order %q it is %q",
					cfg, names, p, a.Walk(p), mixed, b.Walk(p))
			}
		}
	}
}

func TestRing_walkIsAPermutation(t *testing.T) {
	rng := newRand(t)
	for i := range 60 {
		cfg := randomConfig(rng, i%2 == 0)
		r := mustNew(t, cfg, randomNames(rng, rng.IntN(20)))
		members := r.Members()
		for p := range cfg.Partitions {
			w := slices.Clone(r.Walk(p))
			slices.Sort(w)
			if !slices.Equal(w, members) {
				t.Fatalf("%+v: Walk(%d) = %q is not a permutation of %q", cfg, p, r.Walk(p), members)
			}
			for n := 1; n <= 5; n++ {
				pl := r.Preflist(p, n)
				if len(pl) != min(n, len(members)) {
					t.Fatalf("%+v: Preflist(%d, %d) = %q, want %d members", cfg, p, n, pl, min(n, len(members)))
				}
			}
		}
	}
}

func TestRing_plainMatchesReference(t *testing.T) {
	rng := newRand(t)
	for range 40 {
		cfg := randomConfig(rng, false)
		names := randomNames(rng, rng.IntN(12))
		r, ref := mustNew(t, cfg, names), newRefRing(cfg, names)
		for p := range cfg.Partitions {
			if len(names) == 0 {
				if r.Walk(p) != nil {
					t.Fatalf("empty ring: Walk(%d) = %q", p, r.Walk(p))
				}
				continue
			}
			if got, want := r.Walk(p), ref.walk(p); !slices.Equal(got, want) {
				t.Fatalf("%+v, members %q: Walk(%d) = %q, reference %q", cfg, names, p, got, want)
			}
		}
	}
}

// TestRing_boundedIsAStableMatching checks a bounded ring's primaries against
// the definition in balance's doc: the other members follow in natural order,
// no member is above capacity, and, unless fill may have had to complete a
// partition, no partition and member would both rather be matched to each
// other.
func TestRing_boundedIsAStableMatching(t *testing.T) {
	rng := newRand(t)
	checked := 0
	for range 60 {
		cfg := randomConfig(rng, true)
		names := randomNames(rng, 1+rng.IntN(14))
		r, ref := mustNew(t, cfg, names), newRefRing(cfg, names)
		s, q := len(ref.members), cfg.Partitions
		n := min(cfg.NVal, s)
		capacity := max(int(math.Ceil(float64(q*n)/float64(s))), int(math.Floor(cfg.MaxLoad*float64(q*n)/float64(s))))
		index := map[string]int{}
		for m, name := range ref.members {
			index[name] = m
		}
		// rank[p][m]: position of m in p's natural walk.
		rank := make([][]int, q)
		primary := make([][]bool, q)
		held := make([][]int, s) // partitions each member is a primary of
		for p := range q {
			rank[p] = make([]int, s)
			for k, m := range ref.order[p] {
				rank[p][m] = k
			}
			primary[p] = make([]bool, s)
			for _, name := range r.Preflist(p, n) {
				m := index[name]
				primary[p][m] = true
				held[m] = append(held[m], p)
			}
			var rest []string // the others, in natural order
			for _, m := range ref.order[p] {
				if !primary[p][m] {
					rest = append(rest, ref.members[m])
				}
			}
			if got := r.Walk(p)[n:]; !slices.Equal(got, rest) {
				t.Fatalf("%+v: Walk(%d) = %q, want the non-primaries in natural order %q after %d primaries", cfg, p, r.Walk(p), rest, n)
			}
		}
		for m := range s {
			if len(held[m]) > capacity {
				t.Fatalf("%+v: %q holds %d slots, capacity %d", cfg, ref.members[m], len(held[m]), capacity)
			}
		}
		// m would rather hold p than x (weaker(m's hold on x, on p)).
		prefers := func(m, p, x int) bool {
			if rank[p][m] != rank[x][m] {
				return rank[p][m] < rank[x][m]
			}
			if ref.dist[p][m] != ref.dist[x][m] {
				return ref.dist[p][m] < ref.dist[x][m]
			}
			return p < x
		}
		if (s-n+1)*capacity < q*n {
			continue // a partition may have been turned away by all: fill breaks stability
		}
		for p := range q {
			worst := 0 // natural position of p's last primary
			for m := range s {
				if primary[p][m] {
					worst = max(worst, rank[p][m])
				}
			}
			for m := range s {
				if primary[p][m] || rank[p][m] > worst {
					continue // p does not want m more than what it has
				}
				checked++
				if len(held[m]) < capacity {
					t.Fatalf("%+v: blocking pair: partition %d wants %q, which is below capacity", cfg, p, ref.members[m])
				}
				for _, x := range held[m] {
					if prefers(m, p, x) {
						t.Fatalf("%+v: blocking pair: partition %d wants %q, which holds %d more weakly", cfg, p, ref.members[m], x)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no case had a member turned away: the bound was never exercised")
	}
}

func TestRing_plainChangeTouchesOnlyTheMember(t *testing.T) {
	rng := newRand(t)
	for range 40 {
		cfg := randomConfig(rng, false)
		names := randomNames(rng, 1+rng.IntN(15))
		x := names[rng.IntN(len(names))]
		rest := slices.DeleteFunc(slices.Clone(names), func(m string) bool { return m == x })
		with, without := mustNew(t, cfg, names), mustNew(t, cfg, rest)
		for p := range cfg.Partitions {
			got := slices.DeleteFunc(slices.Clone(with.Walk(p)), func(m string) bool { return m == x })
			if !slices.Equal(got, without.Walk(p)) && len(rest) > 0 {
				t.Fatalf("%+v: adding %q reordered partition %d: %q -> %q", cfg, x, p, without.Walk(p), with.Walk(p))
			}
		}
		for n := 1; n <= 4; n++ {
			slots := len(with.Owned(x, n))
			if got := Moved(without, with, n); got != slots {
				t.Errorf("%+v: join of %q moved %d slots at n=%d, want its own %d", cfg, x, got, n, slots)
			}
			if got, want := Moved(with, without, n), slots; len(rest) >= n && got != want {
				t.Errorf("%+v: leave of %q moved %d slots at n=%d, want its %d re-homed", cfg, x, got, n, want)
			}
		}
	}
}

// TestRing_joinMovesItsShare checks the default config: a join moves about
// 1/(S+1) of the replicas, and a leave re-homes the leaver's replicas plus at
// most a few more (the bound makes the survivors at capacity shift a little).
func TestRing_joinMovesItsShare(t *testing.T) {
	rng := newRand(t)
	cfg := DefaultConfig()
	const n, cases = 3, 10
	var sum float64
	for range cases {
		s := 4 + rng.IntN(37)
		names := randomNames(rng, s+1)
		before, after := mustNew(t, cfg, names[:s]), mustNew(t, cfg, names)
		ideal := float64(cfg.Partitions*n) / float64(s+1)
		ratio := float64(Moved(before, after, n)) / ideal
		sum += ratio
		if ratio < 0.8 || ratio > 1.25 {
			t.Errorf("S=%d: a join moved %.3f× the ideal 1/(S+1), want within [0.8, 1.25]", s, ratio)
		}
		x := names[rng.IntN(s)]
		rest := slices.DeleteFunc(slices.Clone(names[:s]), func(m string) bool { return m == x })
		leave := mustNew(t, cfg, rest)
		slots := len(before.Owned(x, n))
		if got := Moved(before, leave, n); got < slots || float64(got) > 1.2*float64(slots) {
			t.Errorf("S=%d: leave of a member with %d slots moved %d, want [%d, %.0f]", s, slots, got, slots, 1.2*float64(slots))
		}
	}
	if mean := sum / cases; mean < 0.95 || mean > 1.07 {
		t.Errorf("joins moved %.3f× the ideal on average, want within [0.95, 1.07]", mean)
	}
}

func TestRing_partitionAndRangeAgree(t *testing.T) {
	rng := newRand(t)
	for _, q := range []int{1, 2, 16, 1024, 65536} {
		r := mustNew(t, Config{Partitions: q, Tokens: 1}, nil)
		for range 1000 {
			h := rng.Uint64()
			p := r.Partition(h)
			if p < 0 || p >= q {
				t.Fatalf("Q=%d: Partition(%#x) = %d, out of range", q, h, p)
			}
			if lo, hi := r.Range(p); h < lo || h > hi {
				t.Fatalf("Q=%d: Partition(%#x) = %d, whose range is [%#x, %#x]", q, h, p, lo, hi)
			}
			p = rng.IntN(q)
			lo, hi := r.Range(p)
			if r.Partition(lo) != p || r.Partition(hi) != p {
				t.Fatalf("Q=%d: Range(%d) = [%#x, %#x] maps to %d, %d", q, p, lo, hi, r.Partition(lo), r.Partition(hi))
			}
		}
	}
}

// TestRing_tightBoundHolds uses MaxLoad 1 on small rings, where deferred
// acceptance often turns a partition away from every member and fill must
// complete it: the bound still holds exactly.
func TestRing_tightBoundHolds(t *testing.T) {
	for _, q := range []int{1, 4, 16, 64} {
		for s := 1; s <= 12; s++ {
			for n := 1; n <= 4; n++ {
				cfg := Config{Partitions: q, Tokens: 8, NVal: n, MaxLoad: 1}
				r := mustNew(t, cfg, memberNames("m", s))
				st := r.Stats(n)
				if want := (q*min(n, s) + s - 1) / s; st.Max > want {
					t.Errorf("Q=%d S=%d n=%d: a member holds %d slots, want <= %d", q, s, n, st.Max, want)
				}
			}
		}
	}
}
