package crdt

import (
	"errors"
	"slices"
	"testing"
)

func apply(t *testing.T, s State, o Op, r int) State {
	t.Helper()
	n, err := Apply(s, o, actorOf(r), 1)
	if err != nil {
		t.Fatalf("apply %+v: %v", o, err)
	}
	return n
}

func TestSet_removeNeedsContext(t *testing.T) {
	s := apply(t, New(TypeSet), Op{Type: TypeSet, Add: []string{"a"}}, 0)
	ctx := s.Ctx
	for _, tc := range []struct {
		name string
		op   Op
		want error
	}{
		{"no context", Op{Type: TypeSet, Remove: []string{"a"}}, ErrNoContext},
		{"context before the add", Op{Type: TypeSet, Remove: []string{"a"}, Context: &Context{}}, ErrNotSeen},
		{"absent element", Op{Type: TypeSet, Remove: []string{"zz"}, Context: &ctx}, ErrNotSeen},
		{"seen", Op{Type: TypeSet, Remove: []string{"a"}, Context: &ctx}, nil},
		{"both add and remove", Op{Type: TypeSet, Add: []string{"a"}, Remove: []string{"a"}, Context: &ctx}, ErrBadOp},
		{"wrong type", Op{Type: TypeCounter, Increment: 1}, ErrType},
		{"empty", Op{Type: TypeSet}, ErrBadOp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Apply(s, tc.op, actorOf(1), 1)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// A remove whose context saw an add this replica has not seen yet waits
// for it: the add arrives and is removed at once.
func TestSet_deferredRemove(t *testing.T) {
	a := apply(t, New(TypeSet), Op{Type: TypeSet, Add: []string{"x"}}, 0)
	b := apply(t, New(TypeSet), Op{Type: TypeSet, Add: []string{"y"}}, 1)
	ctx := a.Ctx                                                                // a client read x at replica 0 ...
	b = apply(t, b, Op{Type: TypeSet, Remove: []string{"x"}, Context: &ctx}, 1) // ... and removed it at 1
	if len(b.Deferred) != 1 {
		t.Fatalf("deferred = %d, want 1", len(b.Deferred))
	}
	j := mustJoin(t, b, a)
	if got := j.Value().([]string); !slices.Equal(got, []string{"y"}) {
		t.Fatalf("value %q, want [y]", got)
	}
	if len(j.Deferred) != 0 {
		t.Fatalf("deferred remove kept after its context was covered")
	}
	// A concurrent re-add of x (a dot the remover did not see) wins.
	a2 := apply(t, a, Op{Type: TypeSet, Add: []string{"x"}}, 0)
	if got := mustJoin(t, b, a2).Value().([]string); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("value %q, want [x y]", got)
	}
}

func TestMap_updateWinsOverRemove(t *testing.T) {
	s := apply(t, New(TypeMap), Op{Type: TypeMap, Update: []FieldOp{{"cart", Op{Type: TypeSet, Add: []string{"a"}}}}}, 0)
	ctx := s.Ctx
	rm := apply(t, s, Op{Type: TypeMap, RemoveF: []FieldKey{{"cart", TypeSet}}, Context: &ctx}, 0)
	up := apply(t, s, Op{Type: TypeMap, Update: []FieldOp{{"cart", Op{Type: TypeSet, Add: []string{"b"}}}}}, 1)
	j := mustJoin(t, rm, up)
	got := j.Value().(map[string]any)
	if v, ok := got["cart_set"].([]string); !ok || !slices.Equal(v, []string{"b"}) {
		t.Fatalf("value %v, want cart_set [b] (the remove drops a, the concurrent add of b stays)", got)
	}
}

func TestParseOp(t *testing.T) {
	for _, tc := range []struct {
		typ Type
		in  string
		ok  bool
	}{
		{TypeCounter, `{"increment": 5}`, true},
		{TypeCounter, `{"increment": -5}`, true},
		{TypeCounter, `{"increment": 1.5}`, false},
		{TypeCounter, `{"add": ["a"]}`, false},
		{TypeCounter, `{}`, false},
		{TypeCounter, `{"increment": 1} x`, false},
		{TypeSet, `{"add": ["a"], "remove": ["b"], "context": "AQAA"}`, true},
		{TypeSet, `{"add": ["a"], "bogus": 1}`, false},
		{TypeSet, `{"context": "!!"}`, false},
		{TypeMap, `{"update": {"n_counter": {"increment": 1}, "t_set": {"add": ["x"]}, "r_register": {"assign": "v"}, "f_flag": {"enable": true}, "m_map": {"update": {"z_counter": {"increment": 2}}}}}`, true},
		{TypeMap, `{"update": {"n_counter": {"add": ["x"]}}}`, false},
		{TypeMap, `{"update": {"nocounter": {"increment": 1}}}`, false},
		{TypeMap, `{"update": {"n_counter": {"increment": 1, "context": "AQAA"}}}`, false},
		{TypeMap, `{"remove": ["a_set"], "context": "AQAA"}`, true},
	} {
		_, err := ParseOp(tc.typ, []byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("ParseOp(%v, %s) = %v, want ok %v", tc.typ, tc.in, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadOp) {
			t.Errorf("ParseOp(%v, %s) = %v, want ErrBadOp", tc.typ, tc.in, err)
		}
	}
}

func TestContext_compacts(t *testing.T) {
	var c Context
	for _, n := range []uint64{3, 5, 1, 2, 4} {
		c = c.Add(Dot{actorOf(0), n})
	}
	if len(c.Cloud) != 0 || len(c.VV) != 1 || c.VV[0].N != 5 {
		t.Fatalf("context %+v, want vv {a:5} and no cloud", c)
	}
	d, err := DecodeContext(EncodeContext(c))
	if err != nil || !d.equal(c) {
		t.Fatalf("round trip: %+v, %v", d, err)
	}
}

// seeds are encodings the fuzzer starts from.
func seeds() [][]byte {
	var out [][]byte
	a, _ := Apply(New(TypeCounter), Op{Type: TypeCounter, Increment: 3}, actorOf(0), 1)
	out = append(out, a.Encode())
	s := New(TypeSet)
	s, _ = Apply(s, Op{Type: TypeSet, Add: []string{"a", "b"}}, actorOf(0), 1)
	out = append(out, s.Encode())
	m := New(TypeMap)
	m, _ = Apply(m, Op{Type: TypeMap, Update: []FieldOp{
		{"n", Op{Type: TypeCounter, Increment: 2}}, {"r", Op{Type: TypeRegister, Assign: "x"}},
		{"f", Op{Type: TypeFlag, Enable: true}}, {"m", Op{Type: TypeMap, Update: []FieldOp{{"s", Op{Type: TypeSet, Add: []string{"q"}}}}}},
	}}, actorOf(1), 5)
	out = append(out, m.Encode())
	ctx := m.Ctx
	out = append(out, EncodeOp(Op{Type: TypeMap, RemoveF: []FieldKey{{"n", TypeCounter}}, Context: &ctx}))
	out = append(out, []byte(EncodeContext(ctx)))
	return out
}

// FuzzDecode: the decoders of states, ops and contexts never panic, and
// what they accept re-encodes to the same bytes (states, contexts) or
// validates (ops).
func FuzzDecode(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := DecodeState(b); err == nil {
			if string(s.Encode()) != string(b) {
				t.Fatalf("state re-encodes differently")
			}
			if _, err := Join(s, s); err != nil {
				t.Fatal(err)
			}
			_ = s.Value()
		}
		if o, err := DecodeOp(b); err == nil {
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			for _, typ := range []Type{TypeCounter, TypeSet, TypeMap} {
				_, _ = Apply(New(typ), o, actorOf(0), 0)
			}
		}
		if c, err := DecodeContext(string(b)); err == nil {
			if EncodeContext(c) != string(b) {
				t.Fatalf("context re-encodes differently")
			}
		}
	})
}
