package ownership

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dynamod/dynamod/ring"
)

func mustRing(t testing.TB, members ...string) *ring.Ring {
	t.Helper()
	cfg := ring.DefaultConfig()
	cfg.Partitions, cfg.Tokens = 64, 16
	r, err := ring.New(cfg, members)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("n%d", i+1)
	}
	return out
}

func TestSteadyViewIsTheRing(t *testing.T) {
	r := mustRing(t, names(5)...)
	v := Steady(r)
	if !v.Steady() {
		t.Fatal("Steady(r) is not steady")
	}
	for p := range r.Partitions() {
		walk, serving, pending := v.Place(p, 3)
		if !slices.Equal(walk, r.Walk(p)) || pending != nil || serving != 3 {
			t.Fatalf("p%d: walk %v serving %d pending %v, want the ring walk %v", p, walk, serving, pending, r.Walk(p))
		}
		if !v.Done(p, 3) {
			t.Fatalf("p%d: not done in a steady view", p)
		}
	}
	if v.Transfers(3) != nil || v.Needs("n1", 3) != nil {
		t.Fatal("a steady view has transfers")
	}
}

func TestJoinPendingPrimariesGetStandIns(t *testing.T) {
	old := mustRing(t, "n1", "n2", "n3")
	target := mustRing(t, "n1", "n2", "n3", "n4")
	v := New(target, map[string]Holding{"n1": {Ring: old}, "n2": {Ring: old}, "n3": {Ring: old}})
	if v.Steady() {
		t.Fatal("a view with a joining member is steady")
	}
	for p := range target.Partitions() {
		walk, serving, pending := v.Place(p, 3)
		prim := target.Preflist(p, 3)
		if slices.Contains(prim, "n4") {
			if !slices.Equal(pending, []string{"n4"}) {
				t.Fatalf("p%d: pending %v, want [n4]", p, pending)
			}
		} else if pending != nil {
			t.Fatalf("p%d: pending %v, want none", p, pending)
		}
		if serving != 3 {
			t.Fatalf("p%d: %d serving, want 3 (a holder stands in)", p, serving)
		}
		for _, m := range walk[:3] {
			if !v.Holds(m, p, 3) {
				t.Fatalf("p%d: %s serves without holding (walk %v)", p, m, walk)
			}
		}
		for _, m := range pending {
			if slices.Contains(walk, m) {
				t.Fatalf("p%d: walk %v: pending %s must not be a fallback too", p, walk, m)
			}
		}
	}
	needs := v.Needs("n4", 3)
	if !slices.Equal(needs, target.Owned("n4", 3)) {
		t.Fatalf("n4 needs %v, want everything it owns %v", needs, target.Owned("n4", 3))
	}
	for _, tr := range v.Transfers(3) {
		if len(tr.From) == 0 {
			t.Fatalf("transfer %+v has no source", tr)
		}
		for _, f := range tr.From {
			if !v.Holds(f, tr.Partition, 3) {
				t.Fatalf("transfer %+v: source %s does not hold it", tr, f)
			}
		}
	}
}

func TestBootstrapWithoutHolders(t *testing.T) {
	target := mustRing(t, "n1", "n2")
	v := New(target, nil)
	for p := range target.Partitions() {
		walk, serving, pending := v.Place(p, 3)
		if !slices.Equal(walk, target.Walk(p)) || pending != nil || serving != 2 {
			t.Fatalf("p%d: with no holder anywhere the target serves; got %v %d %v", p, walk, serving, pending)
		}
		if src := v.Sources(p, 3, "n1"); src != nil {
			t.Fatalf("p%d: sources %v with no holder", p, src)
		}
	}
}

// TestChangesNeverServeWithoutData runs random sequences of joins, leaves
// and removals against a model of which member has which partition's data,
// settling and releasing in random order, and checks after every step that
// every member the view lets serve a partition has its data (or nobody
// alive has it), that writes reach every target primary, and that the
// cluster ends steady.
func TestChangesNeverServeWithoutData(t *testing.T) {
	const n = 3
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			all := names(7)
			members := slices.Clone(all[:3])
			first := mustRing(t, members...)
			settledAt := map[string][]string{}
			extra := map[string]Set{}
			data := map[string]map[int]bool{}
			for _, m := range members {
				settledAt[m] = slices.Clone(members)
				data[m] = map[int]bool{}
				for _, p := range first.Owned(m, n) {
					data[m][p] = true
				}
			}
			leaving := map[string]bool{}
			rings := map[string]*ring.Ring{}
			ringOf := func(ms []string) *ring.Ring {
				key := fmt.Sprint(ms)
				if r, ok := rings[key]; ok {
					return r
				}
				r := mustRing(t, ms...)
				rings[key] = r
				return r
			}
			view := func() *View {
				s := map[string]Holding{}
				for m, ms := range settledAt {
					s[m] = Holding{Ring: ringOf(ms), Extra: extra[m].Clone()}
				}
				return New(ringOf(members), s)
			}
			check := func(step string) {
				v := view()
				for p := range v.Target().Partitions() {
					walk, k, pending := v.Place(p, n)
					holders := 0
					for m := range data {
						if data[m][p] {
							holders++
						}
					}
					for m := range data {
						if v.Holds(m, p, n) && !data[m][p] {
							t.Fatalf("%s: p%d: %s counts as holder without data", step, p, m)
						}
					}
					for _, m := range walk[:k] {
						if !data[m][p] && holders > 0 && v.Holds(m, p, n) {
							t.Fatalf("%s: p%d: %s counts as holder without data", step, p, m)
						}
						if !data[m][p] && holders > 0 {
							t.Fatalf("%s: p%d: %s serves without data (walk %v, pending %v)", step, p, m, walk, pending)
						}
					}
					// Writes reach every target primary: served or pending.
					for _, m := range v.Target().Preflist(p, n) {
						if !slices.Contains(walk[:k], m) && !slices.Contains(pending, m) {
							t.Fatalf("%s: p%d: target primary %s gets no writes", step, p, m)
						}
					}
				}
			}
			for step := 0; step < 12; step++ {
				// A membership change.
				switch op := rng.IntN(3); {
				case op == 0 && len(members) < len(all):
					var out []string
					for _, m := range all {
						if !slices.Contains(members, m) && !leaving[m] && settledAt[m] == nil {
							out = append(out, m)
						}
					}
					if len(out) == 0 {
						continue
					}
					j := out[rng.IntN(len(out))]
					members = append(members, j)
					slices.Sort(members)
					data[j] = map[int]bool{}
				case op == 1 && len(members) > 2:
					l := members[rng.IntN(len(members))]
					members = slices.DeleteFunc(members, func(m string) bool { return m == l })
					leaving[l] = true
				case op == 2 && len(members) > 3:
					// Remove a member: its data is gone with it.
					d := members[rng.IntN(len(members))]
					members = slices.DeleteFunc(members, func(m string) bool { return m == d })
					delete(settledAt, d)
					delete(data, d)
					delete(extra, d)
				}
				check(fmt.Sprintf("step %d after change", step))
				// Settle and release in random order until steady.
				for range 200 {
					v := view()
					if v.Steady() {
						break
					}
					var acts []func()
					for _, m := range members {
						if v.SettledAt(m) {
							continue
						}
						acts = append(acts, func() {
							for _, p := range v.Needs(m, n) {
								for _, src := range v.Sources(p, n, m) {
									if data[src][p] {
										data[m][p] = true
									}
								}
							}
							extra[m] = v.Settle(m, n).Extra
							settledAt[m] = slices.Clone(members)
						})
					}
					for l := range leaving {
						if settledAt[l] == nil {
							continue
						}
						allDone := true
						for p := range v.Target().Partitions() {
							if data[l][p] && !v.Releasable(l, p, n) {
								allDone = false
							}
						}
						if allDone {
							acts = append(acts, func() { delete(settledAt, l); delete(data, l); delete(leaving, l); delete(extra, l) })
						}
					}
					for m := range data {
						var rel []int
						for _, p := range extra[m].Slice() {
							if v.Releasable(m, p, n) && !leaving[m] {
								rel = append(rel, p)
							}
						}
						if len(rel) > 0 {
							acts = append(acts, func() {
								for _, p := range rel {
									delete(data[m], p)
									extra[m] = extra[m].Remove(p)
								}
							})
						}
					}
					if len(acts) == 0 {
						t.Fatalf("step %d: stuck: not steady and nothing to do", step)
					}
					acts[rng.IntN(len(acts))]()
					check(fmt.Sprintf("step %d settling", step))
				}
				if !view().Steady() {
					t.Fatalf("step %d: not steady after 200 actions", step)
				}
				for p := range view().Target().Partitions() {
					for _, m := range view().Target().Preflist(p, n) {
						if !data[m][p] {
							t.Fatalf("step %d: steady but %s lacks p%d", step, m, p)
						}
					}
				}
			}
		})
	}
}

func TestSetRoundTrip(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var s Set
		want := map[int]bool{}
		for range rng.IntN(200) {
			p := rng.IntN(4096)
			if rng.IntN(4) == 0 {
				s = s.Remove(p)
				delete(want, p)
			} else {
				s = s.Add(p)
				want[p] = true
			}
		}
		got, err := ParseSet(s.String())
		if err != nil {
			t.Fatal(err)
		}
		if got.Len() != len(want) {
			t.Fatalf("seed %d: %d partitions after a round trip, want %d", seed, got.Len(), len(want))
		}
		for p := range want {
			if !got.Has(p) {
				t.Fatalf("seed %d: lost %d", seed, p)
			}
		}
	}
	if _, err := ParseSet("!!"); err == nil {
		t.Fatal("ParseSet accepted bad base64")
	}
	if _, err := ParseSet(Set(make([]uint64, 2000)).Add(128000).String()); err == nil {
		t.Fatal("ParseSet accepted an oversized set")
	}
}
