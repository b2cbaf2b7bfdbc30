package versioning

import (
	"errors"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	actA = ActorID(0xa)
	actB = ActorID(0xb)
	actC = ActorID(0xc)
)

// v is a value whose data is s.
func v(s string) Value { return Value{Data: []byte(s)} }

// ent is an entry; vals newest first.
func ent(a ActorID, n uint64, vals ...string) Entry {
	e := Entry{Actor: a, Counter: n}
	for _, s := range vals {
		e.Values = append(e.Values, v(s))
	}
	return e
}

// clk is a clock with the given entries and anonymous values.
func clk(anon []string, es ...Entry) Clock {
	c := Clock{Entries: es}
	for _, s := range anon {
		c.Anon = append(c.Anon, v(s))
	}
	return c
}

// descends reports whether c's history includes ctx: every counter of ctx
// is at most c's.
func descends(c Clock, ctx Context) bool {
	have := map[ActorID]uint64{}
	for _, e := range Join(c) {
		have[e.Actor] = e.Counter
	}
	for _, e := range ctx {
		if have[e.Actor] < e.Counter {
			return false
		}
	}
	return true
}

// data lists the data of c's live values in Values order.
func data(c Clock) []string {
	var out []string
	for _, x := range Values(c) {
		out = append(out, string(x.Data))
	}
	return out
}

// TestWorkedExample is the scenario of the issue that asked for DVVSets.
func TestWorkedExample(t *testing.T) {
	var stored Clock
	stored = Update(New(nil, v("x")), stored, actA)
	stale := Join(stored) // two clients read x

	// Two writes with the same stale context leave two siblings.
	stored = Update(New(stale, v("y1")), stored, actA)
	stored = Update(New(stale, v("y2")), stored, actA)
	if got, want := data(stored), []string{"y2", "y1"}; !slices.Equal(got, want) {
		t.Fatalf("after two writes with one stale context: %q, want %q", got, want)
	}

	// A write whose context is the join of the clock leaves one value.
	stored = Update(New(Join(stored), v("z")), stored, actA)
	if got, want := data(stored), []string{"z"}; !slices.Equal(got, want) {
		t.Fatalf("after a write with the joined context: %q, want %q", got, want)
	}

	// A write with an older context after the resolved write is a sibling
	// again.
	stored = Update(New(stale, v("late")), stored, actB)
	if got, want := data(stored), []string{"z", "late"}; !slices.Equal(got, want) {
		t.Fatalf("after a write with an older context: %q, want %q", got, want)
	}

	// 20 blind writes leave 20 siblings, through one or several
	// coordinators.
	for _, coords := range [][]ActorID{{actA}, {actA, actB, actC}} {
		var c Clock
		for k := range 20 {
			c = Update(New(nil, v(strings.Repeat("b", k+1))), c, coords[k%len(coords)])
		}
		if got := c.Len(); got != 20 {
			t.Errorf("%d coordinators: 20 blind writes left %d values, want 20", len(coords), got)
		}
		if got := len(c.Entries); got != len(coords) {
			t.Errorf("%d coordinators: %d entries", len(coords), got)
		}
	}

	// The same stale context through two coordinators, then replication.
	r1 := Update(New(stale, v("p")), stored, actB)
	r2 := Update(New(stale, v("q")), stored, actC)
	if got, want := data(Sync(r1, r2)), []string{"z", "p", "late", "q"}; !slices.Equal(got, want) {
		t.Fatalf("after replication: %q, want %q", got, want)
	}
}

func TestUpdate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client Clock
		local  Clock
		actor  ActorID
		want   Clock
	}{
		{"first write", New(nil, v("v")), Clock{}, actA, clk(nil, ent(actA, 1, "v"))},
		{"blind write keeps the old value", New(nil, v("v")), clk(nil, ent(actA, 1, "a1")), actA,
			clk(nil, ent(actA, 2, "v", "a1"))},
		{"context covers the old value", New(Context{{actA, 1}}, v("v")), clk(nil, ent(actA, 1, "a1")), actA,
			clk(nil, ent(actA, 2, "v"))},
		{"another coordinator", New(Context{{actA, 1}}, v("v")), clk(nil, ent(actA, 1, "a1")), actB,
			clk(nil, ent(actA, 1), ent(actB, 1, "v"))},
		{"context covers part", New(Context{{actA, 1}}, v("v")), clk(nil, ent(actA, 2, "a2", "a1")), actA,
			clk(nil, ent(actA, 3, "v", "a2"))},
		{"context names an actor the coordinator has not seen", New(Context{{actC, 4}}, v("v")), Clock{}, actA,
			clk(nil, ent(actA, 1, "v"), ent(actC, 4))},
		{"context ahead of the coordinator's own counter", New(Context{{actA, 5}}, v("v")), clk(nil, ent(actA, 1, "a1")), actA,
			clk(nil, ent(actA, 6, "v"))},
		{"context covers a resolved value", New(Context{{actA, 1}, {actB, 1}}, v("v")),
			clk([]string{"x"}, ent(actA, 1), ent(actB, 1)), actA,
			clk(nil, ent(actA, 2, "v"), ent(actB, 1))},
		{"context covers a resolved value, other coordinator", New(Context{{actA, 1}, {actB, 1}}, v("v")),
			clk([]string{"x"}, ent(actA, 1), ent(actB, 1)), actC,
			clk(nil, ent(actA, 1), ent(actB, 1), ent(actC, 1, "v"))},
		{"context misses part of a resolved value", New(Context{{actA, 1}}, v("v")),
			clk([]string{"x"}, ent(actA, 1), ent(actB, 1)), actA,
			clk([]string{"x"}, ent(actA, 2, "v"), ent(actB, 1))},
		{"blind write next to a resolved value", New(nil, v("v")),
			clk([]string{"x"}, ent(actA, 1)), actA,
			clk([]string{"x"}, ent(actA, 2, "v"))},
		{"no value: nothing to write", Clock{Entries: []Entry{ent(actA, 9)}}, clk(nil, ent(actA, 1, "a1")), actA,
			clk(nil, ent(actA, 1, "a1"))},
		{"several values: the first is written", clk([]string{"v", "w"}), Clock{}, actA,
			clk(nil, ent(actA, 1, "v"))},
		{"values in the client's entries are ignored", clk([]string{"v"}, ent(actA, 1, "a1")),
			clk(nil, ent(actA, 1, "a1")), actA, clk(nil, ent(actA, 2, "v"))},
		{"counter at its maximum: no dot can be minted", New(Context{{actA, math.MaxUint64}}, v("v")),
			clk(nil, ent(actA, 1, "a1")), actA, clk(nil, ent(actA, 1, "a1"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Update(tc.client, tc.local, tc.actor)
			if !Equal(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
			if err := got.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSync(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b Clock
		want Clock
	}{
		{"empty", Clock{}, Clock{}, Clock{}},
		{"disjoint actors", clk(nil, ent(actA, 1, "a1")), clk(nil, ent(actB, 1, "b1")),
			clk(nil, ent(actA, 1, "a1"), ent(actB, 1, "b1"))},
		{"newer counter killed the old value", clk(nil, ent(actA, 2, "a2")), clk(nil, ent(actA, 1, "a1")),
			clk(nil, ent(actA, 2, "a2"))},
		{"newer counter kept the old value", clk(nil, ent(actA, 2, "a2", "a1")), clk(nil, ent(actA, 1, "a1")),
			clk(nil, ent(actA, 2, "a2", "a1"))},
		{"dot live only below a counter", clk(nil, ent(actA, 1, "a1")), clk(nil, ent(actA, 3, "a3", "a2")),
			clk(nil, ent(actA, 3, "a3", "a2"))},
		{"same counter, one side killed more", clk(nil, ent(actA, 3, "a3")), clk(nil, ent(actA, 3, "a3", "a2")),
			clk(nil, ent(actA, 3, "a3"))},
		{"each side killed something", clk(nil, ent(actA, 3, "a3", "a2")), clk(nil, ent(actA, 2, "a2", "a1")),
			clk(nil, ent(actA, 3, "a3", "a2"))},
		{"older side killed what the newer kept", clk(nil, ent(actA, 2)), clk(nil, ent(actA, 3, "a3", "a2", "a1")),
			clk(nil, ent(actA, 3, "a3"))},
		{"anonymous value of a concurrent clock stays", clk([]string{"x"}, ent(actA, 1)), clk(nil, ent(actB, 1, "b1")),
			clk([]string{"x"}, ent(actA, 1), ent(actB, 1, "b1"))},
		{"equal histories: union of anonymous values", clk([]string{"x"}, ent(actA, 1)), clk([]string{"y", "x"}, ent(actA, 1)),
			clk([]string{"x", "y"}, ent(actA, 1))},
		{"resolved value superseded by a write that saw it",
			clk([]string{"x"}, ent(actA, 1), ent(actB, 1)), clk(nil, ent(actA, 2, "a2"), ent(actB, 1)),
			clk(nil, ent(actA, 2, "a2"), ent(actB, 1))},
		{"resolved value superseded by a later resolution",
			clk([]string{"x"}, ent(actA, 1)), clk([]string{"y"}, ent(actA, 2)),
			clk([]string{"y"}, ent(actA, 2))},
		{"resolved value meets the unresolved clock", clk(nil, ent(actA, 1, "a1"), ent(actB, 1, "b1")),
			clk([]string{"x"}, ent(actA, 1), ent(actB, 1)),
			clk([]string{"x"}, ent(actA, 1), ent(actB, 1))},
		// The DVVSet paper's rule (drop on Less alone) would lose x, a1 and
		// b1 here: the greater clock never saw a1 and b1 die.
		{"resolved value survives a concurrent blind write",
			clk([]string{"x"}, ent(actA, 1), ent(actB, 1)), clk(nil, ent(actA, 2, "a2", "a1"), ent(actB, 1, "b1")),
			clk([]string{"x"}, ent(actA, 2, "a2"), ent(actB, 1))},
		{"resolution of the same history supersedes a resolved value beside live siblings",
			clk([]string{"x"}, ent(actA, 1), ent(actB, 1, "b1")), clk([]string{"m"}, ent(actA, 1), ent(actB, 1)),
			clk([]string{"m"}, ent(actA, 1), ent(actB, 1))},
		{"conflicting values for one dot: a deterministic pick", clk(nil, ent(actA, 1, "p")), clk(nil, ent(actA, 1, "q")),
			clk(nil, ent(actA, 1, "p"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, got := range []Clock{Sync(tc.a, tc.b), Sync(tc.b, tc.a)} {
				if !Equal(got, tc.want) {
					t.Fatalf("got %+v\nwant %+v", got, tc.want)
				}
				if err := got.Validate(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestSync_anonymousGrouping pins the one case where the grouping of Sync
// matters (see Sync's doc) and shows that the replicas still converge.
func TestSync_anonymousGrouping(t *testing.T) {
	a := clk([]string{"x"}, ent(actA, 1), ent(actB, 1)) // x resolved a1 and b1
	b := clk(nil, ent(actA, 2, "a2"), ent(actB, 1, "b1"))
	c := clk(nil, ent(actA, 1, "a1"), ent(actB, 2, "b2"))
	left, right := Sync(Sync(a, b), c), Sync(a, Sync(b, c))
	if got, want := data(left), []string{"a2", "b2", "x"}; !slices.Equal(got, want) {
		t.Fatalf("(a⊔b)⊔c = %q, want %q", got, want)
	}
	if got, want := data(right), []string{"a2", "b2"}; !slices.Equal(got, want) {
		t.Fatalf("a⊔(b⊔c) = %q, want %q", got, want)
	}
	if m := Sync(left, right); !Equal(m, Sync(right, left)) || !Equal(m, left) {
		t.Fatalf("replicas did not converge: %+v", m)
	}
}

func TestSync_doesNotAlias(t *testing.T) {
	a := clk([]string{"x"}, ent(actA, 2, "a2", "a1"), ent(actB, 1, "b1"))
	b := clk(nil, ent(actA, 2, "a2", "a1"), ent(actC, 1, "c1"))
	a0, b0 := Clone(a), Clone(b)
	for name, got := range map[string]Clock{
		"Sync (no anon)": Sync(b, b),
		"Sync":           Sync(a, b),
		"Update":         Update(New(nil, v("n")), a, actA),
		"Clone":          Clone(a),
	} {
		if len(got.Entries) > 1 { // entries share a backing array: capped
			next := Clone(Clock{Entries: got.Entries[1:]})
			got.Entries[0].Values = append(got.Entries[0].Values, v("appended"))
			if !Equal(Clock{Entries: got.Entries[1:]}, next) {
				t.Fatalf("%s: appending to one entry's values overwrote the next", name)
			}
		}
		for k := range got.Entries {
			for n := range got.Entries[k].Values {
				got.Entries[k].Values[n] = v("mutated")
			}
			got.Entries[k].Values = append(got.Entries[k].Values, v("appended"))
			got.Entries[k].Counter++
		}
		for n := range got.Anon {
			got.Anon[n] = v("mutated")
		}
		if grown := append(got.Anon, v("appended")); len(grown) != len(got.Anon)+1 {
			t.Fatal("append lost a value")
		}
		if !Equal(a, a0) || !Equal(b, b0) {
			t.Fatalf("mutating the result of %s changed an input: %+v %+v", name, a, b)
		}
	}
	vals := Values(a)
	vals[0] = v("mutated")
	if !Equal(a, a0) {
		t.Fatalf("mutating Values changed the clock")
	}
	deep := Clone(a)
	deep.Entries[0].Values[0].Data[0] = 'Z'
	if !Equal(a, a0) {
		t.Fatalf("mutating a Clone's data changed the original")
	}
}

func TestEqual(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b Clock
		same bool
	}{
		{"empty", Clock{}, Clock{}, true},
		{"empty and a value", Clock{}, clk(nil, ent(actA, 1, "a1")), false},
		{"same counters, different values", clk(nil, ent(actA, 2, "a2")), clk(nil, ent(actA, 2, "a2", "a1")), false},
		{"greater counter", clk(nil, ent(actA, 1, "a1")), clk(nil, ent(actA, 2, "a2")), false},
		{"extra actor", clk(nil, ent(actA, 1, "a1")), clk(nil, ent(actA, 1, "a1"), ent(actB, 1)), false},
		{"concurrent", clk(nil, ent(actA, 2), ent(actB, 1)), clk(nil, ent(actA, 1), ent(actB, 2)), false},
		{"anon sets compare as sets", clk([]string{"x", "y"}, ent(actA, 1)), clk([]string{"y", "x", "x"}, ent(actA, 1)), true},
		{"anon sets differ", clk([]string{"x"}), clk([]string{"y"}), false},
		{"nil and empty slices", Clock{Entries: []Entry{{Actor: actA, Counter: 1, Values: []Value{}}}, Anon: []Value{}},
			Clock{Entries: []Entry{{Actor: actA, Counter: 1}}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Equal(tc.a, tc.b); got != tc.same {
				t.Errorf("Equal = %v, want %v", got, tc.same)
			}
			if got := Equal(tc.b, tc.a); got != tc.same {
				t.Errorf("Equal(b, a) = %v, want %v", got, tc.same)
			}
		})
	}
}

func TestSiblings(t *testing.T) {
	c := clk([]string{"x", "y"}, ent(0xdeadbeef, 12, "d12", "d11"), ent(actB, 1, "b1"))
	sibs := Siblings(c)
	vals := Values(c)
	if len(sibs) != 5 || len(vals) != 5 || c.Len() != 5 {
		t.Fatalf("%d siblings, %d values, Len %d; want 5", len(sibs), len(vals), c.Len())
	}
	wantDots := []Dot{{0xdeadbeef, 12}, {0xdeadbeef, 11}, {actB, 1}}
	for k, d := range wantDots {
		if sibs[k].Dot != d || sibs[k].Anonymous {
			t.Errorf("sibling %d: dot %+v anonymous %v, want %+v", k, sibs[k].Dot, sibs[k].Anonymous, d)
		}
	}
	if got := []string{sibs[0].ID, sibs[1].ID, sibs[2].ID}; !slices.Equal(got, []string{"deadbeef-12", "deadbeef-11", "b-1"}) {
		t.Errorf("dotted IDs %q", got)
	}
	urlSafe := regexp.MustCompile(`^[0-9a-f]{16}$`)
	seen := map[string]bool{}
	for k, s := range sibs {
		if !ValueEqual(s.Value, vals[k]) {
			t.Errorf("sibling %d holds %q, Values has %q", k, s.Value.Data, vals[k].Data)
		}
		if seen[s.ID] {
			t.Errorf("duplicate ID %q", s.ID)
		}
		seen[s.ID] = true
		if k >= 3 && (!s.Anonymous || s.Dot != (Dot{}) || !urlSafe.MatchString(s.ID)) {
			t.Errorf("anonymous sibling %d: %+v", k, s)
		}
	}
	// IDs are stable: a replica with the values in another order and
	// separately allocated names them alike.
	other := Clone(c)
	slices.Reverse(other.Anon)
	if got := Siblings(other); !slices.EqualFunc(got, sibs, func(x, y Sibling) bool { return x.ID == y.ID }) {
		t.Errorf("IDs differ between equal clocks")
	}
	if Siblings(Clock{}) != nil || Values(Clock{}) != nil {
		t.Errorf("empty clock has siblings")
	}
}

func TestDigest(t *testing.T) {
	base := Clock{
		Entries: []Entry{{Actor: actA, Counter: 3, Values: []Value{
			{Data: []byte("a3"), ContentType: "text/plain", LastModified: 7, Meta: map[string]string{"k": "v", "l": "w"}},
		}}, {Actor: actB, Counter: 1}},
		Anon: []Value{v("x"), v("y")},
	}
	d := Digest(base)
	same := func(name string, c Clock) {
		t.Helper()
		if !Equal(c, base) {
			t.Fatalf("%s: test clock not Equal to the base", name)
		}
		if Digest(c) != d {
			t.Errorf("%s: digest differs for an Equal clock", name)
		}
	}
	differ := func(name string, c Clock) {
		t.Helper()
		if Digest(c) == d {
			t.Errorf("%s: digest unchanged", name)
		}
	}
	mut := func(f func(c *Clock)) Clock { c := Clone(base); f(&c); return c }

	same("clone", Clone(base))
	same("anon reversed", mut(func(c *Clock) { slices.Reverse(c.Anon) }))
	same("anon duplicated", mut(func(c *Clock) { c.Anon = append(c.Anon, v("x")) }))
	same("meta rebuilt", mut(func(c *Clock) {
		c.Entries[0].Values[0].Meta = map[string]string{"l": "w", "k": "v"}
	}))
	nilish := Clock{Entries: []Entry{{Actor: actA, Counter: 1, Values: []Value{{}}}}}
	empty := Clock{Entries: []Entry{{Actor: actA, Counter: 1, Values: []Value{{Data: []byte{}, Meta: map[string]string{}}}}}, Anon: []Value{}}
	if !Equal(nilish, empty) || Digest(nilish) != Digest(empty) {
		t.Errorf("nil and empty data and meta: digests differ")
	}

	differ("counter", mut(func(c *Clock) { c.Entries[1].Counter = 2 }))
	differ("actor", mut(func(c *Clock) { c.Entries[1].Actor = actC }))
	differ("data", mut(func(c *Clock) { c.Entries[0].Values[0].Data = []byte("a4") }))
	differ("content type", mut(func(c *Clock) { c.Entries[0].Values[0].ContentType = "text/html" }))
	differ("last modified", mut(func(c *Clock) { c.Entries[0].Values[0].LastModified = 8 }))
	differ("deleted", mut(func(c *Clock) { c.Entries[0].Values[0].Deleted = true }))
	differ("meta value", mut(func(c *Clock) { c.Entries[0].Values[0].Meta["k"] = "w" }))
	differ("meta key and value swapped", mut(func(c *Clock) {
		c.Entries[0].Values[0].Meta = map[string]string{"v": "k", "w": "l"}
	}))
	differ("meta dropped", mut(func(c *Clock) { c.Entries[0].Values[0].Meta = nil }))
	differ("anon dropped", mut(func(c *Clock) { c.Anon = c.Anon[:1] }))
	differ("anon changed", mut(func(c *Clock) { c.Anon[1] = v("z") }))
	differ("value made anonymous", mut(func(c *Clock) {
		c.Anon = append(c.Anon, c.Entries[0].Values[0])
		c.Entries[0].Values = nil
	}))
	differ("data moved into content type", Clock{Entries: []Entry{{Actor: actA, Counter: 1,
		Values: []Value{{Data: []byte("ab"), ContentType: "c"}}}}})

	// Nodes of different builds compare digests: pin the function.
	if got := Digest(clk([]string{"x"}, ent(actA, 2, "a2"))); got != pinnedDigest {
		t.Errorf("Digest changed: %#x, pinned %#x; every anti-entropy tree changes with it", got, pinnedDigest)
	}
}

const pinnedDigest uint64 = 0xaa14e2de5521fc37

func TestValueEqual(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b Value
		want bool
	}{
		{"zero", Value{}, Value{}, true},
		{"nil and empty data", Value{}, Value{Data: []byte{}}, true},
		{"nil and empty meta", Value{}, Value{Meta: map[string]string{}}, true},
		{"data", v("a"), v("b"), false},
		{"content type", Value{ContentType: "a"}, Value{ContentType: "b"}, false},
		{"last modified", Value{LastModified: 1}, Value{}, false},
		{"deleted", Value{Deleted: true}, Value{}, false},
		{"expires", Value{Expires: 5}, Value{}, false},
		{"meta value", Value{Meta: map[string]string{"a": "1"}}, Value{Meta: map[string]string{"a": "2"}}, false},
		{"meta key", Value{Meta: map[string]string{"a": "1"}}, Value{Meta: map[string]string{"b": "1"}}, false},
		{"meta size", Value{Meta: map[string]string{"a": "1"}}, Value{Meta: map[string]string{"a": "1", "b": "1"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValueEqual(tc.a, tc.b); got != tc.want {
				t.Errorf("ValueEqual = %v, want %v", got, tc.want)
			}
			if got := compareValue(tc.a, tc.b) == 0; got != tc.want {
				t.Errorf("compareValue == 0 is %v, want %v", got, tc.want)
			}
			if c1, c2 := compareValue(tc.a, tc.b), compareValue(tc.b, tc.a); c1 != -c2 {
				t.Errorf("compareValue not antisymmetric: %d, %d", c1, c2)
			}
			if got := valueHash(&tc.a) == valueHash(&tc.b); got != tc.want {
				t.Errorf("equal hashes is %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLenTombstone(t *testing.T) {
	del := Value{Deleted: true}
	for _, tc := range []struct {
		name      string
		c         Clock
		n         int
		tombstone bool
	}{
		{"empty", Clock{}, 0, false},
		{"history only", clk(nil, ent(actA, 3)), 0, false},
		{"one value", clk(nil, ent(actA, 1, "a")), 1, false},
		{"one tombstone", Clock{Entries: []Entry{{Actor: actA, Counter: 1, Values: []Value{del}}}}, 1, true},
		{"tombstone and value", Clock{Entries: []Entry{{Actor: actA, Counter: 1, Values: []Value{del}}}, Anon: []Value{v("x")}}, 2, false},
		{"anonymous tombstone", Clock{Anon: []Value{del}}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Len(); got != tc.n {
				t.Errorf("Len = %d, want %d", got, tc.n)
			}
			if got := IsTombstone(tc.c); got != tc.tombstone {
				t.Errorf("IsTombstone = %v, want %v", got, tc.tombstone)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Clock
		ok   bool
	}{
		{"zero", Clock{}, true},
		{"valid", clk([]string{"x", "y"}, ent(actA, 2, "a2", "a1"), ent(actB, 5)), true},
		{"zero counter", clk(nil, ent(actA, 0)), false},
		{"more values than the counter", clk(nil, ent(actA, 1, "a1", "a0")), false},
		{"unsorted", clk(nil, ent(actB, 1), ent(actA, 1)), false},
		{"duplicate actor", clk(nil, ent(actA, 1), ent(actA, 2)), false},
		{"duplicate anonymous values", clk([]string{"x", "y", "x"}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if tc.ok && err != nil {
				t.Fatalf("Validate = %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, ErrBadClock) {
				t.Fatalf("Validate = %v, want ErrBadClock", err)
			}
		})
	}
}

// TestInvalidClocksDoNotPanic runs every operation on clocks that break the
// invariants: a peer may send one before the decoder's Validate is fixed,
// and nothing must panic on input.
func TestInvalidClocksDoNotPanic(t *testing.T) {
	bad := []Clock{
		clk(nil, ent(actA, 0, "z")),
		clk(nil, ent(actA, 1, "a1", "a0", "a-1")),
		clk(nil, ent(actB, 2, "b2"), ent(actA, 1, "a1")),
		clk([]string{"x", "x"}, ent(actA, 1), ent(actA, 3, "a3")),
		clk(nil, ent(actA, math.MaxUint64, "m")),
		clk(nil, ent(actA, 3, "a3", "a2")),
	}
	for _, a := range bad {
		for _, b := range bad {
			for _, r := range []Clock{Sync(a, b), Update(New(Join(b), v("n")), a, actA)} {
				_ = Values(r)
				_ = Siblings(r)
				_ = Digest(r)
				_ = r.Validate()
			}
			_, _ = Equal(a, b), IsTombstone(a)
			_ = Join(a).Encode()
		}
	}
	if err := Join(clk(nil, ent(actA, 0), ent(actB, 1))).Validate(); err != nil {
		t.Errorf("Join kept a zero counter: %v", err)
	}
}

// clockFromBytes builds a small clock from fuzz input, consuming it; it
// yields valid clocks and, as often, ones that break the invariants.
func clockFromBytes(b *[]byte) Clock {
	next := func() byte {
		if len(*b) == 0 {
			return 0
		}
		x := (*b)[0]
		*b = (*b)[1:]
		return x
	}
	val := func() Value {
		x := next()
		return Value{Data: []byte{'a' + x%3}, LastModified: int64(x / 3 % 3), Deleted: x >= 0xf0}
	}
	var c Clock
	for range next() % 5 {
		e := Entry{Actor: ActorID(next() % 4), Counter: uint64(next() % 6)}
		for range next() % 4 {
			e.Values = append(e.Values, val())
		}
		c.Entries = append(c.Entries, e)
	}
	for range next() % 3 {
		c.Anon = append(c.Anon, val())
	}
	return c
}

// FuzzClockOps: no operation panics on any clock, and on valid clocks Sync
// is commutative and idempotent, results are valid, and Equal clocks have
// equal digests.
func FuzzClockOps(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{2, 1, 3, 2, 0, 1, 2, 2, 1, 1, 0, 1, 0, 1, 2, 3, 4, 1, 5})
	f.Add([]byte{1, 0, 0, 1, 7, 1, 0, 2, 2, 8, 9})
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := clockFromBytes(&in), clockFromBytes(&in)
		actor := ActorID(len(in) % 5)
		results := []Clock{Sync(a, b), Update(New(Join(b), v("n")), a, actor), Update(b, a, actor), Clone(a)}
		for _, r := range results {
			_, _, _ = Values(r), Siblings(r), Digest(r)
			_, _ = IsTombstone(r), r.Len()
		}
		if a.Validate() != nil || b.Validate() != nil {
			return
		}
		for k, r := range results {
			if err := r.Validate(); err != nil {
				t.Fatalf("result %d invalid: %v\na=%+v\nb=%+v\nr=%+v", k, err, a, b, r)
			}
		}
		ab, ba := Sync(a, b), Sync(b, a)
		if !Equal(ab, ba) || Digest(ab) != Digest(ba) {
			t.Fatalf("Sync not commutative:\na=%+v\nb=%+v\nab=%+v\nba=%+v", a, b, ab, ba)
		}
		if !Equal(Sync(a, a), a) {
			t.Fatalf("Sync not idempotent on %+v", a)
		}
		if !descends(ab, Join(a)) || !descends(ab, Join(b)) {
			t.Fatalf("Sync does not descend its arguments")
		}
		if up := results[1]; up.Len() < 1 || !descends(up, Join(b)) {
			t.Fatalf("Update lost the written value or the context: %+v", up)
		}
	})
}

func TestValue_expiredAt(t *testing.T) {
	for _, c := range []struct {
		expires, now int64
		want         bool
	}{{0, 1 << 62, false}, {100, 99, false}, {100, 100, true}, {100, 101, true}} {
		if got := (Value{Expires: c.expires}).ExpiredAt(c.now); got != c.want {
			t.Errorf("expires %d at %d: %v, want %v", c.expires, c.now, got, c.want)
		}
	}
}
