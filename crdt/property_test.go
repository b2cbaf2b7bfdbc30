package crdt

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dynamod/dynamod/versioning"
)

// The sequential model: every operation is an event with an id; a replica
// has seen a set of events (its causal history). An add (or a field
// update) is cancelled by a later add or remove of the same element (or
// field) at a replica that had seen it; an element (or field) is present
// iff some add of it is not cancelled. That is add-wins: a remove cancels
// only what its context saw. Counters sum every increment exactly.
type model struct {
	seen    [3]map[int]bool // per replica: events seen
	adds    map[int]string  // event -> element (or field) it added
	dead    map[int]bool    // cancelled adds
	sum     int64           // counter
	nextID  int
	regs    map[int]modelReg // register writes by event
	regDead map[int]bool
}

type modelReg struct {
	time  int64
	dot   Dot
	value string
}

func newModel() *model {
	m := &model{adds: map[int]string{}, dead: map[int]bool{}, regs: map[int]modelReg{}, regDead: map[int]bool{}}
	for i := range m.seen {
		m.seen[i] = map[int]bool{}
	}
	return m
}

// cancel marks the adds of key in snapshot as cancelled.
func (m *model) cancel(snapshot map[int]bool, key string) {
	for id := range snapshot {
		if k, ok := m.adds[id]; ok && k == key {
			m.dead[id] = true
		}
	}
}

func (m *model) event(r int) int {
	m.nextID++
	m.seen[r][m.nextID] = true
	return m.nextID
}

func (m *model) deliver(from, to int) {
	for id := range m.seen[from] {
		m.seen[to][id] = true
	}
}

func (m *model) present() []string {
	var out []string
	for id, k := range m.adds {
		if !m.dead[id] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func snapshot(s map[int]bool) map[int]bool {
	out := make(map[int]bool, len(s))
	for k, v := range s {
		out[k] = v
	}
	return out
}

// actorOf is replica r's actor.
func actorOf(r int) versioning.ActorID { return versioning.ActorID(0x1000 + r) }

func mustJoin(t *testing.T, a, b State) State {
	t.Helper()
	j, err := Join(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// roundTrip checks that s survives its encoding.
func roundTrip(t *testing.T, s State) {
	t.Helper()
	b := s.Encode()
	d, err := DecodeState(b)
	if err != nil {
		t.Fatalf("decode of an encoded state: %v\n%+v", err, s)
	}
	if string(d.Encode()) != string(b) {
		t.Fatalf("round trip changed the state")
	}
}

// history runs a random schedule of ops and merges at three replicas and
// returns the replicas' states and the model. kind picks the type.
func history(t *testing.T, rng *rand.Rand, typ Type, steps int) ([3]State, *model) {
	t.Helper()
	var rs [3]State
	for i := range rs {
		rs[i] = New(typ)
	}
	m := newModel()
	elems := []string{"a", "b", "c", "d"}
	now := int64(1000)
	for range steps {
		r := rng.IntN(3)
		now += int64(rng.IntN(3)) // ties happen: the dot breaks them
		switch rng.IntN(4) {
		case 0: // deliver a state
			from := rng.IntN(3)
			rs[r] = mustJoin(t, rs[r], rs[from])
			m.deliver(from, r)
			continue
		}
		var o Op
		// A remove's context comes from a read at some replica (often
		// this one, sometimes one that saw more or less).
		reader := r
		if rng.IntN(3) == 0 {
			reader = rng.IntN(3)
		}
		ctx := rs[reader].Ctx
		snap := snapshot(m.seen[reader])
		e := elems[rng.IntN(len(elems))]
		add := rng.IntN(2) == 0
		var apply func(id int)
		switch typ {
		case TypeCounter:
			n := int64(rng.IntN(21) - 10)
			o = Op{Type: TypeCounter, Increment: n}
			apply = func(int) { m.sum += n }
		case TypeSet:
			if add {
				o = Op{Type: TypeSet, Add: []string{e}}
				apply = func(id int) { m.cancel(m.seen[r], e); m.adds[id] = e }
			} else {
				o = Op{Type: TypeSet, Remove: []string{e}, Context: &ctx}
				apply = func(int) { m.cancel(snap, e) }
			}
		case TypeMap:
			// Fields e_set (nested element "x"/"y"), a counter "n"
			// never removed, a register "r" and a flag "f" .
			switch rng.IntN(5) {
			case 0: // add to a set field
				x := []string{"x", "y"}[rng.IntN(2)]
				key := e + "_set/" + x
				o = Op{Type: TypeMap, Update: []FieldOp{{Name: e, Op: Op{Type: TypeSet, Add: []string{x}}}}}
				apply = func(id int) { m.cancel(m.seen[r], key); m.adds[id] = key }
			case 1: // remove a set field
				o = Op{Type: TypeMap, RemoveF: []FieldKey{{e, TypeSet}}, Context: &ctx}
				apply = func(int) { m.cancel(snap, e+"_set/x"); m.cancel(snap, e+"_set/y") }
			case 2:
				n := int64(rng.IntN(21) - 10)
				o = Op{Type: TypeMap, Update: []FieldOp{{Name: "n", Op: Op{Type: TypeCounter, Increment: n}}}}
				apply = func(int) { m.sum += n }
			case 3:
				v := fmt.Sprint("v", rng.IntN(100))
				dot := rs[r].Ctx.Next(actorOf(r))
				o = Op{Type: TypeMap, Update: []FieldOp{{Name: "r", Op: Op{Type: TypeRegister, Assign: v}}}}
				apply = func(id int) {
					for old := range m.seen[r] {
						m.regDead[old] = old != id
					}
					m.regs[id] = modelReg{now, dot, v}
				}
			case 4:
				en := rng.IntN(2) == 0
				o = Op{Type: TypeMap, Update: []FieldOp{{Name: "f", Op: Op{Type: TypeFlag, Enable: en}}}}
				apply = func(id int) {
					m.cancel(m.seen[r], "f_flag")
					if en {
						m.adds[id] = "f_flag"
					}
				}
			}
		}
		next, err := Apply(rs[r], o, actorOf(r), now)
		switch {
		case err == nil:
		case o.removes() && (err == ErrNotSeen || errorsIs(err, ErrNotSeen)):
			continue // refused: the model does nothing either
		default:
			t.Fatalf("apply %+v: %v", o, err)
		}
		rs[r] = next
		id := m.event(r)
		apply(id)
		roundTrip(t, rs[r])
	}
	return rs, m
}

// finalOrders delivers every replica's state to every other in every
// order and checks they all converge; it returns the converged state.
func converge(t *testing.T, rs [3]State) State {
	t.Helper()
	var first State
	perms := [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for i, p := range perms {
		s := rs[p[0]]
		s = mustJoin(t, s, rs[p[1]])
		s = mustJoin(t, s, rs[p[2]])
		// and again, from the other side
		s2 := mustJoin(t, rs[p[2]], mustJoin(t, rs[p[1]], rs[p[0]]))
		if !Equal(s, s2) {
			t.Fatalf("join order %v: left and right folds differ", p)
		}
		if i == 0 {
			first = s
		} else if !Equal(first, s) {
			t.Fatalf("join order %v: differs from %v", p, perms[0])
		}
	}
	return first
}

func TestProperty_converges(t *testing.T) {
	for _, typ := range []Type{TypeCounter, TypeSet, TypeMap} {
		t.Run(typ.String(), func(t *testing.T) {
			for seed := range uint64(400) {
				rng := rand.New(rand.NewPCG(seed, uint64(typ)))
				rs, m := history(t, rng, typ, 5+rng.IntN(40))
				s := converge(t, rs)
				if len(s.Deferred) > 0 || len(s.Ctx.Cloud) > 0 {
					t.Fatalf("seed %d: settled state keeps %d deferred removes and %d cloud dots", seed, len(s.Deferred), len(s.Ctx.Cloud))
				}
				checkModel(t, seed, s, m)
			}
		})
	}
}

func checkModel(t *testing.T, seed uint64, s State, m *model) {
	t.Helper()
	switch s.Type {
	case TypeCounter:
		if got := s.Value().(int64); got != m.sum {
			t.Fatalf("seed %d: counter %d, want %d", seed, got, m.sum)
		}
	case TypeSet:
		got := s.Value().([]string)
		if want := m.present(); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("seed %d: set %q, want %q", seed, got, want)
		}
	case TypeMap:
		v := s.Value().(map[string]any)
		var got []string
		for k, fv := range v {
			switch k {
			case "n_counter":
				if fv.(int64) != m.sum {
					t.Fatalf("seed %d: counter field %d, want %d", seed, fv, m.sum)
				}
			case "r_register":
			case "f_flag":
				got = append(got, "f_flag")
			default:
				for _, x := range fv.([]string) {
					got = append(got, k+"/"+x)
				}
			}
		}
		if _, ok := v["n_counter"]; !ok && m.sum != 0 {
			// A counter field whose updates summed to 0 is still
			// present; absent means never updated.
			t.Fatalf("seed %d: counter field missing, want %d", seed, m.sum)
		}
		slices.Sort(got)
		if want := m.present(); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("seed %d: fields %q, want %q", seed, got, want)
		}
		// The register: the newest (time, dot) among writes no later
		// write saw.
		var best *modelReg
		for id, r := range m.regs {
			if m.regDead[id] {
				continue
			}
			if best == nil || r.time > best.time || (r.time == best.time && compareDots(r.dot, best.dot) > 0) {
				best = &r
			}
		}
		gotR, ok := v["r_register"]
		if (best == nil) != !ok || (best != nil && gotR != best.value) {
			t.Fatalf("seed %d: register %v (present %v), want %+v", seed, gotR, ok, best)
		}
	}
}

func errorsIs(err, target error) bool {
	for err != nil {
		if err == target {
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// TestProperty_joinLaws: Join is commutative, associative and idempotent
// on states reached by random histories.
func TestProperty_joinLaws(t *testing.T) {
	for _, typ := range []Type{TypeCounter, TypeSet, TypeMap} {
		t.Run(typ.String(), func(t *testing.T) {
			for seed := range uint64(500) {
				rng := rand.New(rand.NewPCG(seed, 77+uint64(typ)))
				rs, _ := history(t, rng, typ, rng.IntN(30))
				a, b, c := rs[0], rs[1], rs[2]
				if !Equal(mustJoin(t, a, b), mustJoin(t, b, a)) {
					t.Fatalf("seed %d: not commutative", seed)
				}
				if !Equal(mustJoin(t, mustJoin(t, a, b), c), mustJoin(t, a, mustJoin(t, b, c))) {
					t.Fatalf("seed %d: not associative", seed)
				}
				if !Equal(mustJoin(t, a, a), a) {
					t.Fatalf("seed %d: not idempotent", seed)
				}
				roundTrip(t, mustJoin(t, a, mustJoin(t, b, c)))
			}
		})
	}
}
