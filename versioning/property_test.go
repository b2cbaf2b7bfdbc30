package versioning

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// The property tests run random histories of client writes and replica
// merges against a naive reference model. The model keeps, for every write,
// its full causal history as a set of dots: the dots its context covered
// plus its own. A replica knows a set of writes; a known write is live iff no
// other known write's history contains its dot. Merging replicas unions
// their known sets.

// mwrite is one client write in the model.
type mwrite struct {
	id   int
	dot  Dot
	hist map[Dot]bool // every dot the write's context covered, and its own
	val  Value
}

// world is one random history: replicas with real clocks, the model beside
// them, and the reads clients made.
type world struct {
	t        *testing.T
	rng      *rand.Rand
	actors   []ActorID
	clocks   []Clock
	known    []map[int]bool // per replica: ids of the writes it knows
	writes   []*mwrite
	byData   map[string]int
	reads    []Context // every context a client ever read: stale ones included
	clients  int
	coordUse map[ActorID]bool // actors that coordinated a write
	// snaps are (clock, known set) snapshots for the Sync law checks.
	snaps []snap
}

type snap struct {
	c     Clock
	known map[int]bool
}

func newWorld(t *testing.T, seed uint64) *world {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	n := 3 + rng.IntN(3) // 3–5 replicas, each coordinating as its own actor
	w := &world{t: t, rng: rng, byData: map[string]int{}, clients: 100, coordUse: map[ActorID]bool{}}
	for k := range n {
		// Spread actor ids over the 64-bit space, in no particular order.
		w.actors = append(w.actors, ActorID(uint64(k+1)*0x9e3779b97f4a7c15))
		w.clocks = append(w.clocks, Clock{})
		w.known = append(w.known, map[int]bool{})
	}
	return w
}

// history returns the dot set of a context.
func history(ctx Context) map[Dot]bool {
	h := map[Dot]bool{}
	for _, ce := range ctx {
		for n := uint64(1); n <= ce.Counter; n++ {
			h[Dot{ce.Actor, n}] = true
		}
	}
	return h
}

// modelLive returns the ids of the live writes among known, sorted.
func (w *world) modelLive(known map[int]bool) []int {
	var live []int
	for id := range known {
		d := w.writes[id].dot
		dead := false
		for other := range known {
			if other != id && w.writes[other].hist[d] {
				dead = true
				break
			}
		}
		if !dead {
			live = append(live, id)
		}
	}
	slices.Sort(live)
	return live
}

// modelVV returns the version vector of everything the known writes saw.
func (w *world) modelVV(known map[int]bool) Context {
	top := map[ActorID]uint64{}
	for id := range known {
		for d := range w.writes[id].hist {
			top[d.Actor] = max(top[d.Actor], d.Counter)
		}
	}
	var ctx Context
	for _, a := range slices.Sorted(maps.Keys(top)) {
		ctx = append(ctx, ContextEntry{a, top[a]})
	}
	return ctx
}

// ids maps a clock's live values back to write ids, sorted.
func (w *world) ids(c Clock) []int {
	var out []int
	for _, v := range Values(c) {
		id, ok := w.byData[string(v.Data)]
		if !ok {
			w.t.Fatalf("unknown value %q in clock", v.Data)
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func (w *world) newValue(id int) Value {
	v := Value{
		Data:         []byte("w" + strconv.Itoa(id)),
		ContentType:  "text/plain",
		LastModified: w.rng.Int64N(1000), // coarse, so that LWW ties happen
		Deleted:      w.rng.IntN(10) == 0,
	}
	if w.rng.IntN(3) == 0 {
		v.Meta = map[string]string{"client": strconv.Itoa(w.rng.IntN(w.clients))}
	}
	return v
}

// read returns replica r's context and records it as a future stale one.
func (w *world) read(r int) Context {
	ctx := Join(w.clocks[r])
	w.reads = append(w.reads, ctx)
	return ctx
}

// write has a client write a new value with ctx through coordinator r, in
// both the real clock and the model, and returns the write's id.
func (w *world) write(r int, ctx Context) int {
	w.t.Helper()
	id := len(w.writes)
	actor := w.actors[r]
	var want uint64
	for _, ce := range w.modelVV(w.known[r]) {
		if ce.Actor == actor {
			want = ce.Counter
		}
	}
	for _, ce := range ctx {
		if ce.Actor == actor {
			want = max(want, ce.Counter)
		}
	}
	mw := &mwrite{id: id, dot: Dot{actor, want + 1}, hist: history(ctx), val: w.newValue(id)}
	mw.hist[mw.dot] = true
	w.writes = append(w.writes, mw)
	w.byData[string(mw.val.Data)] = id

	w.clocks[r] = Update(New(ctx, mw.val), w.clocks[r], actor)
	w.known[r][id] = true
	w.coordUse[actor] = true

	found := false
	for _, s := range Siblings(w.clocks[r]) {
		if ValueEqual(s.Value, mw.val) {
			found = true
			if s.Anonymous || s.Dot != mw.dot {
				w.t.Fatalf("write %d: got dot %+v (anonymous %v), want %+v", id, s.Dot, s.Anonymous, mw.dot)
			}
		}
	}
	if !found {
		w.t.Fatalf("write %d: the new value is not in the coordinator's clock", id)
	}
	w.check(r)
	return id
}

// merge sends replica from's state to replica to (and back if both).
func (w *world) merge(from, to int, both bool) {
	w.clocks[to] = Sync(w.clocks[to], w.clocks[from])
	maps.Copy(w.known[to], w.known[from])
	if both {
		w.clocks[from] = Sync(w.clocks[from], w.clocks[to])
		maps.Copy(w.known[from], w.known[to])
		w.check(from)
	}
	w.check(to)
}

// check compares replica r's clock with the model.
func (w *world) check(r int) {
	w.t.Helper()
	c := w.clocks[r]
	if err := c.Validate(); err != nil {
		w.t.Fatalf("replica %d: %v", r, err)
	}
	if got, want := w.ids(c), w.modelLive(w.known[r]); !slices.Equal(got, want) {
		w.t.Fatalf("replica %d: live values %v, model says %v", r, got, want)
	}
	if got, want := Join(c), w.modelVV(w.known[r]); !slices.Equal(got, want) {
		w.t.Fatalf("replica %d: Join = %v, model says %v", r, got, want)
	}
	if len(c.Anon) != 0 {
		w.t.Fatalf("replica %d: %d anonymous values after writes and merges only", r, len(c.Anon))
	}
	if len(c.Entries) > len(w.coordUse) {
		w.t.Fatalf("replica %d: %d entries but only %d actors coordinated writes (%d clients)",
			r, len(c.Entries), len(w.coordUse), w.clients)
	}
	w.checkConcurrent(c)
	if w.rng.IntN(4) == 0 {
		w.snaps = append(w.snaps, snap{c, maps.Clone(w.known[r])})
	}
}

// checkConcurrent verifies that every two siblings of c were truly
// concurrent writes: neither's history contains the other's dot. So the
// number of siblings never exceeds the number of concurrent writes.
func (w *world) checkConcurrent(c Clock) {
	w.t.Helper()
	ids := w.ids(c)
	for i, x := range ids {
		for _, y := range ids[i+1:] {
			if w.writes[y].hist[w.writes[x].dot] || w.writes[x].hist[w.writes[y].dot] {
				w.t.Fatalf("siblings w%d and w%d are causally related", x, y)
			}
		}
	}
}

// step makes one random move of the history.
func (w *world) step() {
	n := len(w.clocks)
	r := w.rng.IntN(n)
	switch k := w.rng.IntN(100); {
	case k < 15: // blind write: the client has seen nothing
		w.write(r, nil)
	case k < 35: // read-modify-write at the same replica
		w.write(r, w.read(r))
	case k < 45: // read from one replica, write through another
		w.write(r, w.read(w.rng.IntN(n)))
	case k < 60: // write with a stale context from an earlier read
		if len(w.reads) == 0 {
			w.write(r, nil)
			return
		}
		w.write(r, w.reads[w.rng.IntN(len(w.reads))])
	case k < 70: // the joined context leaves exactly one value
		w.write(r, w.read(r))
		if got := w.clocks[r].Len(); got != 1 {
			w.t.Fatalf("write with the joined context left %d values, want 1", got)
		}
	case k < 75: // two writes with the same stale context are siblings
		if len(w.reads) == 0 {
			return
		}
		ctx := w.reads[w.rng.IntN(len(w.reads))]
		r2 := w.rng.IntN(n)
		a, b := w.write(r, ctx), w.write(r2, ctx)
		if r2 != r {
			w.merge(r, r2, false)
		}
		ids := w.ids(w.clocks[r2])
		if !slices.Contains(ids, a) || !slices.Contains(ids, b) {
			w.t.Fatalf("two writes with the same context: live %v, want both w%d and w%d", ids, a, b)
		}
	case k < 90: // one-way replication
		w.merge(r, w.rng.IntN(n), false)
	default: // two-way anti-entropy
		w.merge(r, w.rng.IntN(n), true)
	}
}

const (
	propSeeds = 60
	propSteps = 150
)

func TestProperty_modelAgreement(t *testing.T) {
	for seed := range uint64(propSeeds) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			w := newWorld(t, seed)
			for range propSteps {
				w.step()
			}
		})
	}
}

// TestProperty_syncSemilattice checks the join laws and the reference merge
// on snapshots taken along random histories.
func TestProperty_syncSemilattice(t *testing.T) {
	for seed := range uint64(propSeeds) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			w := newWorld(t, seed)
			for range propSteps {
				w.step()
			}
			if len(w.snaps) < 3 {
				t.Fatalf("only %d snapshots", len(w.snaps))
			}
			for range 100 {
				a := w.snaps[w.rng.IntN(len(w.snaps))]
				b := w.snaps[w.rng.IntN(len(w.snaps))]
				c := w.snaps[w.rng.IntN(len(w.snaps))]
				checkLaws(t, a.c, b.c, c.c, true)
				ab := Sync(a.c, b.c)
				union := maps.Clone(a.known)
				maps.Copy(union, b.known)
				if got, want := w.ids(ab), w.modelLive(union); !slices.Equal(got, want) {
					t.Fatalf("Sync live values %v, reference merge %v", got, want)
				}
				if got, want := Join(ab), w.modelVV(union); !slices.Equal(got, want) {
					t.Fatalf("Join(Sync) = %v, reference merge %v", got, want)
				}
			}
		})
	}
}

// checkLaws checks the semilattice laws on a, b and c. Associativity is
// only a law on clocks without anonymous values (see Sync).
func checkLaws(t *testing.T, a, b, c Clock, assoc bool) {
	t.Helper()
	ab, ba := Sync(a, b), Sync(b, a)
	if !Equal(ab, ba) {
		t.Fatalf("Sync not commutative:\na=%+v\nb=%+v\nab=%+v\nba=%+v", a, b, ab, ba)
	}
	if Digest(ab) != Digest(ba) {
		t.Fatalf("Equal clocks with different digests: %+v, %+v", ab, ba)
	}
	if aa := Sync(a, a); !Equal(aa, a) {
		t.Fatalf("Sync not idempotent: a=%+v, Sync(a, a)=%+v", a, aa)
	}
	if !Equal(Sync(ab, a), ab) || !Equal(Sync(ab, b), ab) {
		t.Fatalf("Sync(a, b) absorbs neither a nor b again")
	}
	if !descends(ab, Join(a)) || !descends(ab, Join(b)) {
		t.Fatalf("Sync(a, b) = %+v does not descend both", ab)
	}
	if err := ab.Validate(); err != nil {
		t.Fatalf("Sync result invalid: %v", err)
	}
	if assoc {
		l, r := Sync(ab, c), Sync(a, Sync(b, c))
		if !Equal(l, r) {
			t.Fatalf("Sync not associative:\na=%+v\nb=%+v\nc=%+v\n(ab)c=%+v\na(bc)=%+v", a, b, c, l, r)
		}
	}
}

// TestProperty_clockSizeByActorsNotClients has many clients write blindly
// and with stale contexts through few coordinators: the clock keeps one entry
// per coordinating actor.
func TestProperty_clockSizeByActorsNotClients(t *testing.T) {
	w := newWorld(t, 7)
	w.clients = 300
	for range 300 { // one write per client
		r := w.rng.IntN(len(w.clocks))
		var ctx Context
		if len(w.reads) > 0 && w.rng.IntN(2) == 0 {
			ctx = w.reads[w.rng.IntN(len(w.reads))]
		}
		w.write(r, ctx)
		if w.rng.IntN(3) == 0 {
			w.read(r)
			w.merge(r, w.rng.IntN(len(w.clocks)), true)
		}
	}
	for r, c := range w.clocks {
		if len(c.Entries) > len(w.actors) {
			t.Errorf("replica %d: %d entries after %d writes by %d clients, want ≤ %d actors",
				r, len(c.Entries), len(w.writes), w.clients, len(w.actors))
		}
	}
}

// concat is a deterministic merge for the anonymous-value properties: the
// sorted, comma-joined data of all values.
func concat(vs []Value) Value {
	var parts []string
	var lm int64
	for _, v := range vs {
		parts = append(parts, string(v.Data))
		lm = max(lm, v.LastModified)
	}
	slices.Sort(parts)
	var data []byte
	for k, p := range parts {
		if k > 0 {
			data = append(data, ',')
		}
		data = append(data, p...)
	}
	return Value{Data: data, LastModified: lm}
}

// dotlessMerge replaces c's values by their concat as one anonymous value
// that keeps c's history: the shape of a clock a library merge without a
// dot produces. A clock with fewer than two values is returned as it is.
func dotlessMerge(c Clock) Clock {
	if c.Len() < 2 {
		return c
	}
	return New(Join(c), concat(Values(c)))
}

// TestProperty_anonymousValuesConverge mixes dotless merges into random
// histories (replicas merge on their own, at different times), then runs
// anti-entropy until all replicas are Equal, and checks that independent
// merges of the converged state converge too: Sync and Update keep
// anonymous values sound although the server never stores one.
func TestProperty_anonymousValuesConverge(t *testing.T) {
	for seed := range uint64(propSeeds) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			n := 3 + rng.IntN(3)
			actors := make([]ActorID, n)
			for k := range actors {
				actors[k] = ActorID(k*7919 + 1)
			}
			clocks := make([]Clock, n)
			var reads []Context
			var pool []Clock
			for id := range propSteps {
				r := rng.IntN(n)
				switch k := rng.IntN(100); {
				case k < 40:
					var ctx Context
					switch rng.IntN(3) {
					case 0:
						ctx = Join(clocks[r])
					case 1:
						if len(reads) > 0 {
							ctx = reads[rng.IntN(len(reads))]
						}
					}
					v := Value{Data: []byte("w" + strconv.Itoa(id)), LastModified: rng.Int64N(50)}
					clocks[r] = Update(New(ctx, v), clocks[r], actors[r])
					if ctx != nil && slices.Equal(ctx, Join(clocks[r])) {
						t.Fatalf("Update did not advance the history")
					}
				case k < 50:
					reads = append(reads, Join(clocks[r]))
				case k < 65:
					clocks[r] = dotlessMerge(clocks[r])
				case k < 70: // a write over a merged value with its context
					ctx := Join(clocks[r])
					clocks[r] = Update(New(ctx, Value{Data: []byte("w" + strconv.Itoa(id))}), clocks[r], actors[r])
					if got := clocks[r].Len(); got != 1 {
						t.Fatalf("write with the joined context left %d values, want 1", got)
					}
				default:
					o := rng.IntN(n)
					clocks[o] = Sync(clocks[o], clocks[r])
				}
				if err := clocks[r].Validate(); err != nil {
					t.Fatal(err)
				}
				pool = append(pool, clocks[r])
			}
			// Commutativity and idempotence hold with anonymous values too.
			for range 100 {
				checkLaws(t, pool[rng.IntN(len(pool))], pool[rng.IntN(len(pool))], Clock{}, false)
			}
			antiEntropy(t, clocks)
			merged := make([]Clock, n)
			for k := range clocks {
				merged[k] = dotlessMerge(clocks[k])
			}
			for k := 1; k < n; k++ {
				if !Equal(merged[0], merged[k]) || !Equal(Sync(merged[0], merged[k]), merged[0]) {
					t.Fatalf("independent merges of the converged state diverged")
				}
			}
			if clocks[0].Len() > 0 && merged[0].Len() != 1 {
				t.Fatalf("merge left %d values, want 1", merged[0].Len())
			}
		})
	}
}

// antiEntropy exchanges state between all pairs of replicas until they are
// Equal, at most ten rounds.
func antiEntropy(t *testing.T, clocks []Clock) {
	t.Helper()
	for range 10 {
		for i := range clocks {
			for j := range clocks {
				clocks[j] = Sync(clocks[j], clocks[i])
			}
		}
		same := true
		for k := 1; k < len(clocks); k++ {
			same = same && Equal(clocks[0], clocks[k]) && Digest(clocks[0]) == Digest(clocks[k])
		}
		if same {
			return
		}
	}
	t.Fatalf("replicas did not converge in 10 anti-entropy rounds")
}
