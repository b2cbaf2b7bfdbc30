package crdt

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dynamod/dynamod/versioning"
)

// Op is one client update of a counter, set or map. Type is the type it
// applies to; the fields of that type are used:
//
//   - counter: Increment (negative to decrement);
//   - set: Add and Remove elements;
//   - map: Update fields and Remove fields;
//   - register (map fields only): Assign;
//   - flag (map fields only): Enable (false disables).
//
// Removes, at any depth, use Context: the causal context of the read the
// client based them on (nil: none given). Only the top-level Op's Context
// counts.
type Op struct {
	Type      Type
	Increment int64
	Add       []string
	Remove    []string
	Update    []FieldOp
	RemoveF   []FieldKey
	Assign    string
	Enable    bool
	Context   *Context
}

// FieldKey names a map field: a name and a type.
type FieldKey struct {
	Name string
	Type Type
}

// FieldOp is an update of one map field; Op.Type is the field's type.
type FieldOp struct {
	Name string
	Op   Op
}

// Validate checks an op's form: types, non-empty names, no element or
// field both updated and removed, no duplicate, nesting within MaxDepth.
func (o Op) Validate() error { return o.validate(1, true) }

func (o Op) validate(depth int, top bool) error {
	if !o.Type.valid() || (top && !o.Type.Bucket()) {
		return fmt.Errorf("%w: type %v", ErrBadOp, o.Type)
	}
	if depth > MaxDepth {
		return fmt.Errorf("%w: maps nested deeper than %d", ErrBadOp, MaxDepth)
	}
	switch o.Type {
	case TypeCounter:
		if o.Increment > MaxCount || o.Increment < -MaxCount {
			return fmt.Errorf("%w: increment %d out of ±%d", ErrBadOp, o.Increment, int64(MaxCount))
		}
	case TypeSet:
		if len(o.Add)+len(o.Remove) == 0 {
			return fmt.Errorf("%w: a set operation adds or removes at least one element", ErrBadOp)
		}
		seen := map[string]bool{}
		for _, e := range slices.Concat(o.Add, o.Remove) {
			if seen[e] {
				return fmt.Errorf("%w: element %q named twice", ErrBadOp, e)
			}
			seen[e] = true
		}
	case TypeMap:
		if len(o.Update)+len(o.RemoveF) == 0 {
			return fmt.Errorf("%w: a map operation updates or removes at least one field", ErrBadOp)
		}
		seen := map[FieldKey]bool{}
		for _, u := range o.Update {
			k := FieldKey{u.Name, u.Op.Type}
			if u.Name == "" {
				return fmt.Errorf("%w: empty field name", ErrBadOp)
			}
			if seen[k] {
				return fmt.Errorf("%w: field %s_%v named twice", ErrBadOp, u.Name, u.Op.Type)
			}
			seen[k] = true
			if err := u.Op.validate(depth+1, false); err != nil {
				return err
			}
		}
		for _, k := range o.RemoveF {
			if k.Name == "" || !k.Type.valid() {
				return fmt.Errorf("%w: bad field %s_%v", ErrBadOp, k.Name, k.Type)
			}
			if seen[k] {
				return fmt.Errorf("%w: field %s_%v named twice", ErrBadOp, k.Name, k.Type)
			}
			seen[k] = true
		}
	}
	if !top && o.Context != nil {
		return fmt.Errorf("%w: a context goes with the whole operation, not a field", ErrBadOp)
	}
	return nil
}

// removes reports whether o removes anything (and so needs a context).
func (o Op) removes() bool {
	if len(o.Remove) > 0 || len(o.RemoveF) > 0 {
		return true
	}
	for _, u := range o.Update {
		if u.Op.removes() {
			return true
		}
	}
	return false
}

// Apply returns s updated by o, as the coordinator applies a client's
// update: actor is the actor it mints the write's dot with, now its clock
// (Unix ns; a register's time). Every dot the update creates is one new
// dot of actor, past everything s has seen of it; so the coordinator must
// hold every state actor produced for the key (docs/design.md, "Actors are
// epochs"). Adds replace the dots of the element or field they see in s.
// A remove drops the dots its context saw: ErrNoContext without one;
// ErrNotSeen when s has seen all of that context and the context saw no
// dot of what it removes; when the context holds dots s has not seen, the
// remove is also kept as deferred until s sees them.
func Apply(s State, o Op, actor versioning.ActorID, now int64) (State, error) {
	if err := o.Validate(); err != nil {
		return State{}, err
	}
	if o.Type != s.Type {
		return State{}, fmt.Errorf("%w: a %v operation on a %v", ErrType, o.Type, s.Type)
	}
	if o.Type == TypeCounter {
		return applyCounter(s, o.Increment, actor)
	}
	a := applier{actor: actor, now: now, dot: s.Ctx.Next(actor), base: s.Ctx}
	if o.removes() {
		if o.Context == nil {
			return State{}, ErrNoContext
		}
		a.ctx = *o.Context
		a.covered = s.Ctx.Covers(a.ctx)
	}
	st, err := a.apply(o.Type, s.Store, o, nil)
	if err != nil {
		return State{}, err
	}
	out := State{Type: s.Type, Ctx: s.Ctx, Store: st, Deferred: s.Deferred}
	if a.minted {
		out.Ctx = out.Ctx.Add(a.dot)
	}
	if len(a.deferred) > 0 {
		out.Deferred = mergeDeferred(out.Deferred, a.deferred)
		if len(out.Deferred) > MaxDeferred {
			return State{}, fmt.Errorf("%w: %d removes already wait for dots this replica has not seen; read again and retry", ErrNotSeen, MaxDeferred)
		}
	}
	return out, nil
}

func applyCounter(s State, n int64, actor versioning.ActorID) (State, error) {
	p, m := slices.Clone(s.P), slices.Clone(s.N)
	var err error
	switch {
	case n > 0:
		p, err = addCount(p, actor, uint64(n))
	case n < 0:
		m, err = addCount(m, actor, uint64(-n))
	}
	if err != nil {
		return State{}, err
	}
	return State{Type: TypeCounter, P: p, N: m}, nil
}

// addCount adds n to actor's entry of a sorted actor list (owned).
func addCount(l []Dot, actor versioning.ActorID, n uint64) ([]Dot, error) {
	i, ok := slices.BinarySearchFunc(l, Dot{Actor: actor}, func(d, t Dot) int { return compareDots(Dot{Actor: d.Actor}, t) })
	if !ok {
		if n > MaxCount {
			return nil, ErrOverflow
		}
		return slices.Insert(l, i, Dot{actor, n}), nil
	}
	if l[i].N+n > MaxCount {
		return nil, ErrOverflow
	}
	l[i].N += n
	return l, nil
}

// applier carries one Apply's dot and removal context down the fields.
type applier struct {
	actor   versioning.ActorID
	now     int64
	dot     Dot
	minted  bool // dot is used
	base    Context
	ctx     Context // the client's context (removes only)
	covered bool    // base covers ctx
	// deferred are the removes to keep for dots base has not seen.
	deferred []Deferred
}

func (a *applier) apply(t Type, st Store, o Op, path []Step) (Store, error) {
	switch t {
	case TypeSet:
		elems := slices.Clone(st.Elems)
		for _, e := range o.Remove {
			var err error
			if elems, err = a.removeElem(elems, e, path); err != nil {
				return Store{}, err
			}
		}
		for _, e := range o.Add {
			a.minted = true
			i, ok := slices.BinarySearchFunc(elems, e, func(x Elem, v string) int { return strings.Compare(x.Value, v) })
			if ok {
				elems[i] = Elem{e, []Dot{a.dot}}
			} else {
				elems = slices.Insert(elems, i, Elem{e, []Dot{a.dot}})
			}
		}
		return Store{Elems: elems}, nil
	case TypeFlag:
		if o.Enable {
			a.minted = true
			return Store{Dots: []Dot{a.dot}}, nil
		}
		return Store{}, nil
	case TypeRegister:
		a.minted = true
		return Store{Regs: []Reg{{Dot: a.dot, Time: a.now, Value: o.Assign}}}, nil
	case TypeCounter:
		var inc, dec uint64
		var rest []Cnt
		for _, c := range st.Cnts {
			if c.Dot.Actor == a.actor {
				inc, dec = max(inc, c.Inc), max(dec, c.Dec)
			} else {
				rest = append(rest, c)
			}
		}
		switch n := o.Increment; {
		case n > 0:
			inc += uint64(n)
		case n < 0:
			dec += uint64(-n)
		}
		if inc > MaxCount || dec > MaxCount {
			return Store{}, ErrOverflow
		}
		a.minted = true
		c := Cnt{Dot: a.dot, Inc: inc, Dec: dec}
		i, _ := slices.BinarySearchFunc(rest, c, func(x, y Cnt) int { return compareDots(x.Dot, y.Dot) })
		return Store{Cnts: slices.Insert(rest, i, c)}, nil
	case TypeMap:
		fields := slices.Clone(st.Fields)
		for _, k := range o.RemoveF {
			var err error
			if fields, err = a.removeField(fields, k, path); err != nil {
				return Store{}, err
			}
		}
		for _, u := range o.Update {
			f := Field{Name: u.Name, Type: u.Op.Type}
			i, ok := slices.BinarySearchFunc(fields, f, compareFields)
			if ok {
				f = fields[i]
			}
			sub, err := a.apply(f.Type, f.Store, u.Op, append(slices.Clip(path), Step{f.Name, f.Type}))
			if err != nil {
				return Store{}, err
			}
			f.Store = sub
			switch {
			case ok && sub.empty():
				fields = slices.Delete(fields, i, i+1)
			case ok:
				fields[i] = f
			case !sub.empty():
				fields = slices.Insert(fields, i, f)
			}
		}
		return Store{Fields: fields}, nil
	}
	return Store{}, fmt.Errorf("%w: type %v", ErrBadOp, t)
}

func (a *applier) removeElem(elems []Elem, e string, path []Step) ([]Elem, error) {
	st, hit := removeAt(TypeSet, Store{Elems: elems}, []Step{{Name: e}}, a.ctx)
	if err := a.noteRemove(hit, append(slices.Clip(path), Step{Name: e})); err != nil {
		return nil, fmt.Errorf("%w: element %q", err, e)
	}
	return st.Elems, nil
}

func (a *applier) removeField(fields []Field, k FieldKey, path []Step) ([]Field, error) {
	st, hit := removeAt(TypeMap, Store{Fields: fields}, []Step{{k.Name, k.Type}}, a.ctx)
	if err := a.noteRemove(hit, append(slices.Clip(path), Step(k))); err != nil {
		return nil, fmt.Errorf("%w: field %s_%v", err, k.Name, k.Type)
	}
	return st.Fields, nil
}

// noteRemove decides a remove's fate: refused if the coordinator has seen
// all the client saw and the client saw none of it; deferred if the client
// saw dots the coordinator has not.
func (a *applier) noteRemove(hit bool, path []Step) error {
	if a.covered {
		if !hit {
			return ErrNotSeen
		}
		return nil
	}
	a.deferred = append(a.deferred, Deferred{Ctx: a.ctx, Path: slices.Clone(path)})
	return nil
}
