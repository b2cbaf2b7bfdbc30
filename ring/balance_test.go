package ring

import (
	"fmt"
	"slices"
	"testing"
)

// TestRing_balanceTable measures the balance and movement targets (replicas
// per member at N=3 within 1.10 of the mean up to 30 members; a join moves at
// most 1.1 × the ideal 1/(S+1) of the replicas) for the default config, next
// to the schemes it improves on. Print the table with
//
//	go test -run TestRing_balanceTable -v ./ring/
//
// Columns: max/mean and min/mean replicas per member for members
// node-1…node-S, the worst max/mean over all name sets, and the worst
// max/mean of first primaries (write coordinators); then the replicas a join
// of node-(S+1) moves, as a multiple of the ideal, for node-… and the mean
// and worst over the name sets.
func TestRing_balanceTable(t *testing.T) {
	const n, sets = 3, 12
	type scheme struct {
		name  string
		walks func(members []string) [][]string
	}
	ringWalks := func(cfg Config) func([]string) [][]string {
		return func(members []string) [][]string {
			r := mustNew(t, cfg, members)
			out := make([][]string, cfg.Partitions)
			for p := range out {
				out[p] = r.Walk(p)
			}
			return out
		}
	}
	schemes := []scheme{
		{"random tokens", func(members []string) [][]string {
			slices.Sort(members)
			return randomTokenWalks(t, DefaultConfig(), members)
		}},
		{"stratified", ringWalks(plainConfig())},
		{"stratified+bound", ringWalks(DefaultConfig())},
	}
	q := DefaultConfig().Partitions
	t.Logf("%5s %-17s %8s %8s %8s %8s | %7s %7s %7s", "nodes", "scheme", "max/mean", "min/mean", "worst", "1st/mean", "join", "mean", "worst")
	for _, s := range []int{3, 5, 10, 30, 64} {
		for _, sc := range schemes {
			var maxMean, minMean, worstBal, worstLead, join, sumJoin, worstJoin float64
			for set := range sets {
				prefix := "node-"
				if set > 0 {
					prefix = fmt.Sprintf("set%d-node-", set)
				}
				names := memberNames(prefix, s+1)
				before := sc.walks(slices.Clone(names[:s]))
				after := sc.walks(slices.Clone(names))
				lo, hi := loadRange(before, n)
				mean := float64(q*min(n, s)) / float64(s)
				ratio := float64(movedWalks(before, after, n)) / (float64(q*n) / float64(s+1))
				if set == 0 {
					maxMean, minMean, join = float64(hi)/mean, float64(lo)/mean, ratio
				}
				worstBal = max(worstBal, float64(hi)/mean)
				_, lead := loadRange(before, 1)
				worstLead = max(worstLead, float64(lead)/(float64(q)/float64(s)))
				sumJoin += ratio
				worstJoin = max(worstJoin, ratio)
			}
			meanJoin := sumJoin / sets
			t.Logf("%5d %-17s %8.3f %8.3f %8.3f %8.3f | %7.3f %7.3f %7.3f", s, sc.name, maxMean, minMean, worstBal, worstLead, join, meanJoin, worstJoin)
			if sc.name != "stratified+bound" {
				continue
			}
			if worstBal > 1.10 {
				t.Errorf("%d members: max/mean %.3f, want <= 1.10", s, worstBal)
			}
			if worstLead > 1.10 {
				t.Errorf("%d members: first-primary max/mean %.3f, want <= 1.10", s, worstLead)
			}
			if s <= 30 && meanJoin > 1.10 {
				t.Errorf("%d members: a join moves %.3f× the ideal on average, want <= 1.10", s, meanJoin)
			}
		}
	}
}

// loadRange returns the fewest and most of the first n slots of walks that
// one member holds.
func loadRange(walks [][]string, n int) (lo, hi int) {
	counts := map[string]int{}
	for _, m := range walks[0] {
		counts[m] = 0
	}
	for _, w := range walks {
		for _, m := range w[:min(n, len(w))] {
			counts[m]++
		}
	}
	lo = len(walks) * n
	for _, c := range counts {
		lo, hi = min(lo, c), max(hi, c)
	}
	return lo, hi
}

// movedWalks is Moved over plain walks.
func movedWalks(a, b [][]string, n int) int {
	moved := 0
	for p := range b {
		old := a[p][:min(n, len(a[p]))]
		for _, m := range b[p][:min(n, len(b[p]))] {
			if !slices.Contains(old, m) {
				moved++
			}
		}
	}
	return moved
}

// TestRing_membershipSteps follows the life of a cluster through the steps
// of the membership end-to-end test (two nodes join, one leaves, one is
// removed) and checks, at the default configuration, that each step moves
// exactly the replicas of the members that came or went and keeps the load
// within MaxLoad. Run with -v for the table in docs/benchmarks.md.
func TestRing_membershipSteps(t *testing.T) {
	steps := [][]string{{"n1", "n2", "n3"}, {"n1", "n2", "n3", "n4", "n5"}, {"n1", "n3", "n4", "n5"}, {"n1", "n4", "n5"}}
	cfg := DefaultConfig()
	var prev *Ring
	for _, ms := range steps {
		r, err := New(cfg, ms)
		if err != nil {
			t.Fatal(err)
		}
		st := r.Stats(3)
		moved := Moved(prev, r, 3)
		t.Logf("%v: replicas per member %d..%d (max/mean %.3f); replicas moved %d of %d", ms, st.Min, st.Max, float64(st.Max)/st.Mean, moved, st.Replicas)
		if float64(st.Max) > cfg.MaxLoad*st.Mean+1 {
			t.Errorf("%v: a member holds %d replicas, over %.2f × the mean %.1f", ms, st.Max, cfg.MaxLoad, st.Mean)
		}
		if prev != nil {
			// The minimum: the replicas of the members that left, or the
			// share the newcomers take.
			var minimum int
			for _, m := range prev.Members() {
				if !slices.Contains(ms, m) {
					minimum += len(prev.Owned(m, 3))
				}
			}
			for _, m := range ms {
				if !slices.Contains(prev.Members(), m) {
					minimum += len(r.Owned(m, 3))
				}
			}
			if moved > minimum*11/10 {
				t.Errorf("%v: %d replicas moved, the members that came or went account for %d", ms, moved, minimum)
			}
		}
		prev = r
	}
}
