package resolve

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/dynamod/dynamod/versioning"
)

const propertyIters = 400

// mergeLaws checks, over random documents from gen, that merge is a
// join-semilattice on its canonical results and insensitive to the order,
// duplication and spelling of its arguments; check, if not nil, compares a
// result with a reference computed from the documents' trees.
func mergeLaws(t *testing.T, seed uint64, merge func([][]byte) ([]byte, error),
	gen func(g *jsonGen) any, check func(t *testing.T, got []byte, trees []any)) {
	t.Helper()
	g := newGen(seed)
	m := func(docs ...string) string {
		t.Helper()
		out, err := merge(bs(docs...))
		if err != nil {
			t.Fatalf("merge(%q): %v", docs, err)
		}
		return string(out)
	}
	for i := range propertyIters {
		trees := []any{gen(g), gen(g), gen(g)}
		a, b, c := g.spell(trees[0]), g.spell(trees[1]), g.spell(trees[2])
		abc := m(a, b, c)
		ca := m(a)
		laws := []struct {
			law       string
			got, want string
		}{
			{"commutative", m(a, b), m(b, a)},
			{"associative", m(a, m(b, c)), m(m(a, b), c)},
			{"fold", m(m(a, b), c), abc},
			{"idempotent on a result", m(ca, ca), ca},
			{"idempotent", m(a, a), ca},
			{"canonical", m(ca), ca},
			{"absorbs its inputs", m(abc, b), abc},
			{"spelling", m(g.spell(trees[0]), g.spell(trees[1]), g.spell(trees[2])), abc},
			{"identity", m(a, m()), ca},
		}
		order := shuffledWithDups(g.r, []string{a, b, c})
		laws = append(laws, struct{ law, got, want string }{"order and duplicates", m(order...), abc})
		for _, l := range laws {
			if l.got != l.want {
				t.Fatalf("iteration %d: %s: got %s, want %s\n a=%s\n b=%s\n c=%s", i, l.law, l.got, l.want, a, b, c)
			}
		}
		if check != nil {
			check(t, []byte(abc), trees)
		}
	}
}

func TestSetUnion_laws(t *testing.T) {
	g := newGen(1)
	pool := make([]any, 12) // shared elements, so that sets overlap
	for i := range pool {
		pool[i] = g.value(2)
	}
	gen := func(g *jsonGen) any {
		a := make([]any, g.r.IntN(6))
		for i := range a {
			a[i] = pool[g.r.IntN(len(pool))]
		}
		return a
	}
	mergeLaws(t, 2, SetUnion, gen, func(t *testing.T, got []byte, trees []any) {
		var want []any // the union, by semantic equality
		for _, tr := range trees {
			for _, e := range tr.([]any) {
				if !containsDeep(want, e) {
					want = append(want, e)
				}
			}
		}
		out := decode(t, got).([]any)
		if len(out) != len(want) {
			t.Fatalf("SetUnion gave %d elements, want %d: %s", len(out), len(want), got)
		}
		for _, e := range want {
			if !containsDeep(out, e) {
				t.Fatalf("SetUnion result %s lacks %v", got, e)
			}
		}
	})
}

func containsDeep(s []any, x any) bool {
	for _, e := range s {
		if reflect.DeepEqual(e, x) {
			return true
		}
	}
	return false
}

func TestMergeCounters_laws(t *testing.T) {
	actors := []string{"a", "b", "c", "d", "é"}
	counts := []uint64{0, 1, 2, 3, 1000, math.MaxUint64}
	gen := func(g *jsonGen) any {
		m := map[string]any{}
		for range g.r.IntN(4) {
			m[actors[g.r.IntN(len(actors))]] = counts[g.r.IntN(len(counts))]
		}
		return m
	}
	mergeLaws(t, 3, MergeCounters, gen, func(t *testing.T, got []byte, trees []any) {
		want := map[string]uint64{}
		for _, tr := range trees {
			for k, n := range tr.(map[string]any) {
				want[k] = max(want[k], n.(uint64))
			}
		}
		var raw map[string]json.Number
		if err := json.Unmarshal(got, &raw); err != nil {
			t.Fatal(err)
		}
		out := map[string]uint64{}
		for k, n := range raw {
			x, err := strconv.ParseUint(string(n), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			out[k] = x
		}
		if !reflect.DeepEqual(out, want) {
			t.Fatalf("MergeCounters = %s, want %v", got, want)
		}
	})
}

func TestMergeObjects_laws(t *testing.T) {
	gen := func(g *jsonGen) any { return g.object(3, 4) }
	mergeLaws(t, 4, MergeObjects, gen, func(t *testing.T, got []byte, trees []any) {
		objs := make([]map[string]any, len(trees))
		for i, tr := range trees {
			objs[i] = tr.(map[string]any)
		}
		want := refMergeObjects(objs)
		if out := decode(t, got); !semEqual(out, want) {
			t.Fatalf("MergeObjects = %s, reference %v", got, want)
		}
	})
}

// With "_siblings" among the keys, nested conflict sets and look-alikes
// meet; only the laws are checked.
func TestMergeObjects_lawsWithConflictSets(t *testing.T) {
	gen := func(g *jsonGen) any {
		g.siblingsKey = true
		o := g.object(3, 4)
		if g.r.IntN(3) == 0 { // and explicit conflict sets
			o[genKeys[g.r.IntN(len(genKeys))]] = map[string]any{SiblingsKey: g.array(2, 3)}
		}
		return o
	}
	mergeLaws(t, 5, MergeObjects, gen, nil)
}

// refMergeObjects is a naive reference of the MergeObjects rule on decoded
// trees without "_siblings" keys.
func refMergeObjects(objs []map[string]any) map[string]any {
	out := map[string]any{}
	vals := map[string][]any{}
	for _, o := range objs {
		for k, v := range o {
			vals[k] = append(vals[k], v)
		}
	}
	for k, vs := range vals {
		var elems []any
		var sub []map[string]any
		for _, v := range vs {
			if o, ok := v.(map[string]any); ok {
				sub = append(sub, o)
			} else if !containsDeep(elems, v) {
				elems = append(elems, v)
			}
		}
		if sub != nil {
			elems = append(elems, refMergeObjects(sub))
		}
		if len(elems) == 1 {
			out[k] = elems[0]
		} else {
			out[k] = map[string]any{SiblingsKey: elems}
		}
	}
	return out
}

// semEqual compares decoded trees, with conflict sets compared as sets.
func semEqual(got, want any) bool {
	wm, ok := want.(map[string]any)
	if !ok {
		return reflect.DeepEqual(got, want)
	}
	gm, ok := got.(map[string]any)
	if !ok || len(gm) != len(wm) {
		return false
	}
	if ws, ok := wm[SiblingsKey].([]any); ok && len(wm) == 1 {
		gs, ok := gm[SiblingsKey].([]any)
		if !ok || len(gs) != len(ws) {
			return false
		}
		for _, w := range ws {
			found := false
			for _, g := range gs {
				found = found || semEqual(g, w)
			}
			if !found {
				return false
			}
		}
		return true
	}
	for k, w := range wm {
		if g, ok := gm[k]; !ok || !semEqual(g, w) {
			return false
		}
	}
	return true
}

// randomSibling returns a random sibling for a JSON resolver: mostly valid
// documents from gen, sometimes a tombstone or an invalid value, with
// random times, content types and metadata.
func randomSibling(g *jsonGen, gen func(g *jsonGen) any) versioning.Value {
	v := versioning.Value{LastModified: int64(g.r.IntN(5)), ContentType: []string{"", "text/plain", ContentTypeJSON}[g.r.IntN(3)]}
	switch g.r.IntN(8) {
	case 0:
		v.Deleted = true
	case 1:
		v.Data = []byte([]string{"not json", `"string"`, `3`, ``, `[1`}[g.r.IntN(5)])
	default:
		v.Data = []byte(g.spell(gen(g)))
	}
	if g.r.IntN(2) == 0 {
		v.Meta = map[string]string{}
		for range 1 + g.r.IntN(2) {
			v.Meta[[]string{"x", "y", "z"}[g.r.IntN(3)]] = []string{"1", "2", "3"}[g.r.IntN(3)]
		}
	}
	return v
}

// The resolvers, on whole values (tombstones, invalid siblings, metadata
// and times included), do not depend on order or duplication, and
// resolving in steps, keeping invalid siblings, equals resolving at once.
func TestJSONResolvers_laws(t *testing.T) {
	gens := map[string]func(g *jsonGen) any{
		SpecSetUnion:     func(g *jsonGen) any { return g.array(1, 3) },
		SpecCounter:      func(g *jsonGen) any { return map[string]any{genKeys[g.r.IntN(3)]: uint64(g.r.IntN(4))} },
		SpecMergeObjects: func(g *jsonGen) any { return g.object(2, 2) },
	}
	for _, jr := range jsonResolvers {
		t.Run(jr.spec, func(t *testing.T) {
			g := newGen(6)
			ctx := t.Context()
			resolve := func(vs []versioning.Value) (Result, error) {
				return jr.r.Resolve(ctx, Input{Bucket: "b", Key: "k", Siblings: vs})
			}
			for i := range propertyIters {
				var sibs []versioning.Value
				for range 1 + g.r.IntN(5) {
					sibs = append(sibs, randomSibling(g, gens[jr.spec]))
				}
				want, wantErr := resolve(sibs)
				got, err := resolve(shuffledWithDups(g.r, sibs))
				if (err != nil) != (wantErr != nil) || !versioning.ValueEqual(got.Value, want.Value) ||
					!sameValues(got.Invalid, want.Invalid) || got.Warning != want.Warning {
					t.Fatalf("iteration %d: order and duplicates changed the result:\n%s %s %v\n%s %s %v\nsiblings %s",
						i, show(want.Value), showAll(want.Invalid), wantErr, show(got.Value), showAll(got.Invalid), err, showAll(sibs))
				}
				if wantErr != nil {
					continue
				}
				// Resolve a random part first, keep its invalid siblings, then the rest.
				cut := g.r.IntN(len(sibs)) + 1
				part, err := resolve(sibs[:cut])
				if err != nil {
					continue // nothing valid in the part: the caller keeps the siblings
				}
				rest := append(append([]versioning.Value{part.Value}, part.Invalid...), sibs[cut:]...)
				steps, err := resolve(rest)
				if err != nil || !versioning.ValueEqual(steps.Value, want.Value) || !sameValues(steps.Invalid, want.Invalid) {
					t.Fatalf("iteration %d: in steps %s %s %v, at once %s %s\nsiblings %s",
						i, show(steps.Value), showAll(steps.Invalid), err, show(want.Value), showAll(want.Invalid), showAll(sibs))
				}
				// Idempotent: resolving the result with itself gives it back.
				again, err := resolve([]versioning.Value{want.Value, want.Value})
				if err != nil || !versioning.ValueEqual(again.Value, want.Value) {
					t.Fatalf("iteration %d: not idempotent: %s then %s, %v", i, show(want.Value), show(again.Value), err)
				}
			}
		})
	}
}

func TestLastWriteWins_laws(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	random := func() versioning.Value {
		v := versioning.Value{LastModified: int64(r.IntN(3)), Data: []byte([]string{"", "a", "b"}[r.IntN(3)]),
			ContentType: []string{"", "t"}[r.IntN(2)], Deleted: r.IntN(4) == 0}
		if r.IntN(2) == 0 {
			v.Meta = map[string]string{"k": []string{"1", "2"}[r.IntN(2)]}
		}
		return v
	}
	lww := func(vs ...versioning.Value) versioning.Value {
		v, _ := LastWriteWins(vs)
		return v
	}
	for i := range propertyIters {
		a, b, c := random(), random(), random()
		abc := lww(a, b, c)
		for _, l := range []struct {
			law       string
			got, want versioning.Value
		}{
			{"commutative", lww(a, b), lww(b, a)},
			{"associative", lww(a, lww(b, c)), lww(lww(a, b), c)},
			{"idempotent", lww(a, a), a},
			{"order and duplicates", lww(shuffledWithDups(r, []versioning.Value{a, b, c})...), abc},
		} {
			if !versioning.ValueEqual(l.got, l.want) {
				t.Fatalf("iteration %d: %s: got %s, want %s", i, l.law, show(l.got), show(l.want))
			}
		}
		in := []versioning.Value{a, b, c}
		if !slices.ContainsFunc(in, func(v versioning.Value) bool { return versioning.ValueEqual(v, abc) }) ||
			abc.LastModified != max(a.LastModified, b.LastModified, c.LastModified) {
			t.Fatalf("iteration %d: %s is not the newest of %s", i, show(abc), showAll(in))
		}
	}
}
