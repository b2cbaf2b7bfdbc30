package crdt

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dynamod/dynamod/versioning"
)

// Type is a data type: counter, set and map are a bucket's datatype and
// may be map fields; register and flag are map fields only.
type Type uint8

// The types. Their numbers are part of the encoding.
const (
	TypeCounter Type = 1 + iota
	TypeSet
	TypeMap
	TypeRegister
	TypeFlag
)

var typeNames = [...]string{"", "counter", "set", "map", "register", "flag"}

func (t Type) String() string {
	if int(t) < len(typeNames) && t != 0 {
		return typeNames[t]
	}
	return fmt.Sprintf("type%d", uint8(t))
}

// ParseType parses a type name ("counter", "set", ...).
func ParseType(s string) (Type, bool) {
	for i, n := range typeNames {
		if n != "" && n == s {
			return Type(i), true
		}
	}
	return 0, false
}

// Bucket reports whether t may be a bucket's datatype.
func (t Type) Bucket() bool { return t == TypeCounter || t == TypeSet || t == TypeMap }

func (t Type) valid() bool { return t >= TypeCounter && t <= TypeFlag }

// Sentinel errors.
var (
	// ErrBadOp: the operation is malformed (an element both added and
	// removed, an empty field name, nesting too deep, ...).
	ErrBadOp = errors.New("crdt: bad operation")
	// ErrType: the operation or state is of another type than expected.
	ErrType = errors.New("crdt: wrong type")
	// ErrNoContext: a remove came without the context of a read.
	ErrNoContext = errors.New("crdt: remove needs the context of a read")
	// ErrNotSeen: a remove's context did not see the element or field it
	// removes (absent, or present only by adds the read did not see).
	ErrNotSeen = errors.New("crdt: the context did not see what it removes")
	// ErrCorrupt: bytes that are not an encoding of a state, op or context.
	ErrCorrupt = errors.New("crdt: malformed encoding")
	// ErrOverflow: a counter would pass its bounds.
	ErrOverflow = errors.New("crdt: counter overflow")
)

// Limits of states and operations.
const (
	// MaxDepth bounds map nesting (a top-level map is depth 1).
	MaxDepth = 8
	// MaxDeferred bounds the removes a state keeps waiting for dots it
	// has not seen (see [State]); past it such a remove is refused.
	MaxDeferred = 64
	// MaxCount bounds each actor's total of increments and of
	// decrements, so sums stay exact in an int64 across 2^10 actors.
	MaxCount = 1 << 52
)

// State is one value of a counter, set or map. The zero State is invalid;
// use [New]. States are values: functions here never modify their
// arguments.
type State struct {
	Type Type
	// P and N are a counter's increments and decrements per actor
	// (sorted by actor, each N at least 1).
	P, N []Dot
	// Ctx is a set's or map's causal context: every dot in Store is in it.
	Ctx Context
	// Store holds a set's elements or a map's fields.
	Store Store
	// Deferred are removes whose client context held dots Ctx had not
	// seen: applied again on every join until Ctx covers them, then
	// dropped. Sorted by encoding.
	Deferred []Deferred
}

// Store is a dot store: the dots that keep a value alive. Which fields
// are used depends on the type: Elems (set), Dots (flag), Regs (register),
// Cnts (counter inside a map), Fields (map).
type Store struct {
	Elems  []Elem
	Dots   []Dot
	Regs   []Reg
	Cnts   []Cnt
	Fields []Field
}

// Elem is a set element and the dots of the adds that keep it.
type Elem struct {
	Value string
	Dots  []Dot // sorted, not empty
}

// Reg is one write of a register: its dot, the coordinator's clock when
// it took the write (Unix ns) and the value.
type Reg struct {
	Dot   Dot
	Time  int64
	Value string
}

// Cnt is one actor's totals in a map's counter field, at the dot of its
// last update.
type Cnt struct {
	Dot      Dot
	Inc, Dec uint64
}

// Field is a map field: its name, its type and its dot store.
type Field struct {
	Name  string
	Type  Type
	Store Store
}

// Step is one step of a deferred remove's path: a map field (Type set) or
// a set element (Type 0, Name the element).
type Step struct {
	Name string
	Type Type
}

// Deferred is a remove waiting for dots its context saw and the state has
// not: every dot of Ctx under Path is removed when it arrives.
type Deferred struct {
	Ctx  Context
	Path []Step
}

// New returns the empty state of type t.
func New(t Type) State { return State{Type: t} }

func (s Store) empty() bool {
	return len(s.Elems) == 0 && len(s.Dots) == 0 && len(s.Regs) == 0 && len(s.Cnts) == 0 && len(s.Fields) == 0
}

// Join merges two states of the same type. It is commutative, associative
// and idempotent. States of different types do not join (ErrType).
func Join(a, b State) (State, error) {
	if a.Type != b.Type {
		return State{}, fmt.Errorf("%w: join of a %v and a %v", ErrType, a.Type, b.Type)
	}
	if a.Type == TypeCounter {
		return State{Type: TypeCounter, P: joinMax(a.P, b.P), N: joinMax(a.N, b.N)}, nil
	}
	out := State{
		Type:  a.Type,
		Ctx:   JoinContext(a.Ctx, b.Ctx),
		Store: joinStore(a.Type, a.Store, b.Store, a.Ctx, b.Ctx),
	}
	out.Deferred = mergeDeferred(a.Deferred, b.Deferred)
	out.settle()
	return out, nil
}

// joinMax is the per-actor maximum of two sorted actor lists.
func joinMax(a, b []Dot) []Dot {
	out := make([]Dot, 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i].Actor < b[j].Actor):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j].Actor < a[i].Actor:
			out = append(out, b[j])
			j++
		default:
			out = append(out, Dot{a[i].Actor, max(a[i].N, b[j].N)})
			i++
			j++
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// joinStore joins two dot stores of type t under their contexts: a dot
// stays if both have it, or if one has it and the other has not seen it.
func joinStore(t Type, a, b Store, ca, cb Context) Store {
	switch t {
	case TypeSet:
		return Store{Elems: joinKeyed(a.Elems, b.Elems,
			func(x, y Elem) int { return strings.Compare(x.Value, y.Value) },
			func(x, y *Elem) (Elem, bool) {
				var dx, dy []Dot
				v := ""
				if x != nil {
					dx, v = x.Dots, x.Value
				}
				if y != nil {
					dy, v = y.Dots, y.Value
				}
				ds := joinDots(dx, dy, ca, cb)
				return Elem{Value: v, Dots: ds}, len(ds) > 0
			})}
	case TypeFlag:
		return Store{Dots: joinDots(a.Dots, b.Dots, ca, cb)}
	case TypeRegister:
		return Store{Regs: joinDotFun(a.Regs, b.Regs, ca, cb, func(r Reg) Dot { return r.Dot })}
	case TypeCounter:
		return Store{Cnts: joinDotFun(a.Cnts, b.Cnts, ca, cb, func(c Cnt) Dot { return c.Dot })}
	case TypeMap:
		return Store{Fields: joinKeyed(a.Fields, b.Fields, compareFields,
			func(x, y *Field) (Field, bool) {
				var sx, sy Store
				var f Field
				if x != nil {
					sx, f = x.Store, *x
				}
				if y != nil {
					sy, f = y.Store, *y
				}
				f.Store = joinStore(f.Type, sx, sy, ca, cb)
				return f, !f.Store.empty()
			})}
	}
	return Store{}
}

func compareFields(x, y Field) int {
	if c := strings.Compare(x.Name, y.Name); c != 0 {
		return c
	}
	return cmp.Compare(x.Type, y.Type)
}

// joinKeyed merges two sorted keyed lists, joining entries of equal keys
// with join (nil for a side that lacks the key) and keeping what join
// keeps.
func joinKeyed[T any](a, b []T, compare func(T, T) int, join func(x, y *T) (T, bool)) []T {
	var out []T
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var v T
		var keep bool
		switch {
		case j == len(b) || (i < len(a) && compare(a[i], b[j]) < 0):
			v, keep = join(&a[i], nil)
			i++
		case i == len(a) || compare(b[j], a[i]) < 0:
			v, keep = join(nil, &b[j])
			j++
		default:
			v, keep = join(&a[i], &b[j])
			i++
			j++
		}
		if keep {
			out = append(out, v)
		}
	}
	return out
}

// joinDots joins two sorted dot sets under their contexts.
func joinDots(a, b []Dot, ca, cb Context) []Dot {
	var out []Dot
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && compareDots(a[i], b[j]) < 0):
			if !cb.Contains(a[i]) {
				out = append(out, a[i])
			}
			i++
		case i == len(a) || compareDots(b[j], a[i]) < 0:
			if !ca.Contains(b[j]) {
				out = append(out, b[j])
			}
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// joinDotFun joins two dot functions (sorted by dot; a dot's value is the
// same wherever it is) under their contexts.
func joinDotFun[T any](a, b []T, ca, cb Context, dot func(T) Dot) []T {
	var out []T
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && compareDots(dot(a[i]), dot(b[j])) < 0):
			if !cb.Contains(dot(a[i])) {
				out = append(out, a[i])
			}
			i++
		case i == len(a) || compareDots(dot(b[j]), dot(a[i])) < 0:
			if !ca.Contains(dot(b[j])) {
				out = append(out, b[j])
			}
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// mergeDeferred is the sorted, duplicate-free union of two deferred lists.
func mergeDeferred(a, b []Deferred) []Deferred {
	all := slices.Concat(a, b)
	slices.SortFunc(all, compareDeferred)
	all = slices.CompactFunc(all, func(x, y Deferred) bool { return compareDeferred(x, y) == 0 })
	if len(all) == 0 {
		return nil
	}
	return all
}

func compareDeferred(x, y Deferred) int {
	return strings.Compare(string(appendDeferred(nil, x)), string(appendDeferred(nil, y)))
}

// settle applies every deferred remove and drops those the context
// covers: once it has seen every dot a remove's context saw, the join
// rule drops those dots wherever they come from.
func (s *State) settle() {
	if len(s.Deferred) == 0 {
		return
	}
	var keep []Deferred
	for _, d := range s.Deferred {
		s.Store, _ = removeAt(s.Type, s.Store, d.Path, d.Ctx)
		if !s.Ctx.Covers(d.Ctx) {
			keep = append(keep, d)
		}
	}
	s.Deferred = keep
}

// removeAt returns st (of type t) without the dots of ctx under path, and
// whether it held any of them. Nothing of st is modified in place.
func removeAt(t Type, st Store, path []Step, ctx Context) (Store, bool) {
	if len(path) == 0 {
		return removeAll(t, st, ctx)
	}
	step := path[0]
	switch {
	case t == TypeSet && step.Type == 0 && len(path) == 1:
		i, ok := slices.BinarySearchFunc(st.Elems, step.Name, func(e Elem, v string) int { return strings.Compare(e.Value, v) })
		if !ok {
			return st, false
		}
		ds := slices.DeleteFunc(slices.Clone(st.Elems[i].Dots), ctx.Contains)
		if len(ds) == len(st.Elems[i].Dots) {
			return st, false
		}
		elems := slices.Clone(st.Elems)
		if len(ds) == 0 {
			elems = slices.Delete(elems, i, i+1)
		} else {
			elems[i].Dots = ds
		}
		st.Elems = elems
		return st, true
	case t == TypeMap && step.Type != 0:
		i, ok := slices.BinarySearchFunc(st.Fields, Field{Name: step.Name, Type: step.Type}, compareFields)
		if !ok {
			return st, false
		}
		sub, hit := removeAt(step.Type, st.Fields[i].Store, path[1:], ctx)
		if !hit {
			return st, false
		}
		fields := slices.Clone(st.Fields)
		if sub.empty() {
			fields = slices.Delete(fields, i, i+1)
		} else {
			fields[i].Store = sub
		}
		st.Fields = fields
		return st, true
	}
	return st, false
}

// removeAll returns st without every dot ctx has seen, and whether it held
// any.
func removeAll(t Type, st Store, ctx Context) (Store, bool) {
	switch t {
	case TypeSet:
		var out []Elem
		hit := false
		for _, e := range st.Elems {
			ds := slices.DeleteFunc(slices.Clone(e.Dots), ctx.Contains)
			hit = hit || len(ds) < len(e.Dots)
			if len(ds) > 0 {
				out = append(out, Elem{e.Value, ds})
			}
		}
		return Store{Elems: out}, hit
	case TypeFlag:
		ds := slices.DeleteFunc(slices.Clone(st.Dots), ctx.Contains)
		return Store{Dots: ds}, len(ds) < len(st.Dots)
	case TypeRegister:
		rs := slices.DeleteFunc(slices.Clone(st.Regs), func(r Reg) bool { return ctx.Contains(r.Dot) })
		return Store{Regs: rs}, len(rs) < len(st.Regs)
	case TypeCounter:
		cs := slices.DeleteFunc(slices.Clone(st.Cnts), func(c Cnt) bool { return ctx.Contains(c.Dot) })
		return Store{Cnts: cs}, len(cs) < len(st.Cnts)
	case TypeMap:
		var out []Field
		hit := false
		for _, f := range st.Fields {
			sub, h := removeAll(f.Type, f.Store, ctx)
			hit = hit || h
			if !sub.empty() {
				out = append(out, Field{f.Name, f.Type, sub})
			}
		}
		return Store{Fields: out}, hit
	}
	return st, false
}

// Equal reports whether a and b are the same state.
func Equal(a, b State) bool {
	return string(a.Encode()) == string(b.Encode())
}

// Actors lists the actors a state names (for tests and bounds).
func (s State) Actors() []versioning.ActorID {
	var out []versioning.ActorID
	for _, d := range slices.Concat(s.P, s.N, s.Ctx.VV, s.Ctx.Cloud) {
		out = append(out, d.Actor)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
