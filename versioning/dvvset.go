package versioning

import (
	"math"
	"slices"
	"strconv"
)

// New returns the clock a client sends to a coordinator: the history ctx
// (every entry with no values) and v as the one anonymous value. Pass it to
// [Update]. A nil ctx means the client has seen nothing.
func New(ctx Context, v Value) Clock {
	var es []Entry
	for _, ce := range ctx {
		if ce.Counter == 0 {
			continue
		}
		es = append(es, Entry{Actor: ce.Actor, Counter: ce.Counter})
	}
	return Clock{Entries: es, Anon: []Value{v}}
}

// Update is the coordinator's step for a client write. client is what
// [New] built from the client's context and new value; local is the
// coordinator's current clock of the key; actor is the coordinator's actor.
//
// Every value the client had seen (dots covered by its context) is dropped,
// the context's history is added to local's, and the client's value gets a
// new dot (actor, n+1), where n is the larger of actor's counter in local and
// in the context. Values of local the client had not seen stay as siblings.
// Local's anonymous values (see [Clock]) are dropped when the context
// covers all of local's history ([Join](local) ≤ context), and stay
// otherwise.
//
// Only the counters of client's entries are used; values in them are
// ignored. client should hold exactly one anonymous value; if it holds
// several, the first is written and the others are ignored; if it holds none
// there is nothing to write and Update returns a copy of local. If actor's
// counter is already math.MaxUint64 (possible only with a forged context) no
// dot can be minted, and Update also returns a copy of local.
func Update(client, local Clock, actor ActorID) Clock {
	if len(client.Anon) == 0 {
		return copyClock(local)
	}
	m := mergeEntries(client.Entries, local.Entries, true, 1)
	idx, found := slices.BinarySearchFunc(m.entries, actor, func(e Entry, a ActorID) int {
		switch {
		case e.Actor < a:
			return -1
		case e.Actor > a:
			return 1
		}
		return 0
	})
	if found {
		if m.entries[idx].Counter == math.MaxUint64 {
			return copyClock(local)
		}
		m.entries[idx].Counter++
	} else {
		m.entries = slices.Insert(m.entries, idx, Entry{Actor: actor, Counter: 1})
	}
	materialize(m.entries, m.total+1, idx, &client.Anon[0])
	var anon []Value
	if !m.bLEa { // local's history is not covered by the client's context
		anon = canonicalAnon(nil, local.Anon)
	}
	return Clock{Entries: m.entries, Anon: anon}
}

// Sync merges two replicas' clocks of one key. For every actor it keeps the
// larger counter and exactly the values whose dots are live on both sides (a
// dot is live on a side if the side's counter is below it or the dot's value
// is in the side's list).
//
// Anonymous values (see [Clock]) of a are dropped when b has seen every
// dot of a die (b's dead dots cover [Join](a)) and b knows strictly more than
// a: b's history is greater, or it is equal and a still has live dotted
// values that b saw die. Symmetrically for b; the rest are kept, as a set.
// This is stricter than the DVVSet paper, which drops a's anonymous values
// whenever a's history is strictly below b's: a replica whose dotless merged
// value meets a concurrent blind write would otherwise lose both the merged
// value and the siblings it replaced. The added case (equal histories) drops
// a value that a merge of the same history has already replaced.
//
// Sync is commutative and idempotent, and Sync(a, b) descends both a and b.
// It is associative on clocks without anonymous values. With anonymous
// values the grouping can decide whether an anonymous value is dropped, but
// only while the entries differ: once two replicas hold the same entries,
// Sync keeps the union of their anonymous values, so replicas that keep
// exchanging state still converge.
//
// Two sides that hold different values for the same dot break the Clock
// invariants (a dot is minted once); Sync then still picks one side
// deterministically, so that it stays commutative and replicas converge.
func Sync(a, b Clock) Clock {
	m := mergeEntries(a.Entries, b.Entries, false, 0)
	materialize(m.entries, m.total, -1, nil)
	sameJoin := m.aLEb && m.bLEa
	keepA := !m.deadBcoversA || (sameJoin && m.aAllDead)
	keepB := !m.deadAcoversB || (sameJoin && m.bAllDead)
	var anon []Value
	switch {
	case keepA && keepB:
		anon = canonicalAnon(canonicalAnon(nil, a.Anon), b.Anon)
	case keepA:
		anon = canonicalAnon(nil, a.Anon)
	case keepB:
		anon = canonicalAnon(nil, b.Anon)
	}
	return Clock{Entries: m.entries, Anon: anon}
}

// merged is the result of walking two entry lists side by side.
type merged struct {
	// entries is the merged list; each Values still points into an
	// argument and must be copied by materialize.
	entries []Entry
	total   int // sum of len(Values) over entries
	// aLEb: every counter of a is ≤ b's; bLEa the converse.
	aLEb, bLEa bool
	// deadBcoversA: for every actor of a, b's dead dots reach a's counter.
	deadBcoversA, deadAcoversB bool
	// aAllDead: a has no live dotted value; bAllDead likewise.
	aAllDead, bAllDead bool
}

// live returns the values of e that its counter can account for, and the
// highest dead dot. For a valid entry that is all of Values and
// Counter-len(Values).
func live(e *Entry) ([]Value, uint64) {
	vs := e.Values
	if uint64(len(vs)) > e.Counter {
		vs = vs[:e.Counter]
	}
	return vs, e.Counter - uint64(len(vs))
}

// mergeEntries merges two entry lists sorted by actor. If stripA, a's
// entries are taken as counters only (a client context). extra reserves
// capacity for entries the caller inserts.
func mergeEntries(a, b []Entry, stripA bool, extra int) merged {
	m := merged{
		entries: make([]Entry, 0, len(a)+len(b)+extra),
		aLEb:    true, bLEa: true, deadBcoversA: true, deadAcoversB: true,
		aAllDead: true, bAllDead: true,
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var x, y *Entry
		switch {
		case j == len(b) || (i < len(a) && a[i].Actor < b[j].Actor):
			x = &a[i]
			i++
		case i == len(a) || b[j].Actor < a[i].Actor:
			y = &b[j]
			j++
		default:
			x, y = &a[i], &b[j]
			i++
			j++
		}
		var xv, yv []Value
		var xc, xd, yc, yd uint64
		if x != nil {
			xc = x.Counter
			if stripA {
				xd = xc
			} else {
				xv, xd = live(x)
			}
		}
		if y != nil {
			yc = y.Counter
			yv, yd = live(y)
		}
		if xc > yc {
			m.aLEb = false
		}
		if yc > xc {
			m.bLEa = false
		}
		if yd < xc {
			m.deadBcoversA = false
		}
		if xd < yc {
			m.deadAcoversB = false
		}
		if xd < xc {
			m.aAllDead = false
		}
		if yd < yc {
			m.bAllDead = false
		}
		if xc == 0 && yc == 0 {
			continue // counter 0 breaks the invariants; it carries nothing
		}
		n, dead := max(xc, yc), max(xd, yd)
		keep := n - dead // ≤ len of the values of the side with counter n
		var vs []Value
		switch {
		case xc > yc:
			vs = xv[:keep]
		case yc > xc:
			vs = yv[:keep]
		default:
			vs = pickValues(xv[:keep], yv[:keep])
		}
		var actor ActorID
		if x != nil {
			actor = x.Actor
		} else {
			actor = y.Actor
		}
		m.entries = append(m.entries, Entry{Actor: actor, Counter: n, Values: vs})
		m.total += len(vs)
	}
	return m
}

// pickValues chooses between two value lists for the same dots. They are
// equal in a valid pair of clocks; if not, the smaller one wins, so the
// choice does not depend on argument order.
func pickValues(x, y []Value) []Value {
	if len(x) < len(y) {
		return x
	}
	if len(y) < len(x) {
		return y
	}
	for k := range x {
		if c := compareValue(x[k], y[k]); c != 0 {
			if c < 0 {
				return x
			}
			return y
		}
	}
	return x
}

// materialize copies every entry's Values into one fresh backing array
// (each entry's slice capped, so appending to one cannot overwrite the
// next). If front is not nil it is prepended to entry idx's values; total
// counts it.
func materialize(es []Entry, total, idx int, front *Value) {
	if total == 0 {
		for k := range es {
			es[k].Values = nil
		}
		return
	}
	buf := make([]Value, total)
	off := 0
	for k := range es {
		start := off
		if k == idx && front != nil {
			buf[off] = *front
			off++
		}
		off += copy(buf[off:], es[k].Values)
		if off == start {
			es[k].Values = nil
			continue
		}
		es[k].Values = buf[start:off:off]
	}
}

// canonicalAnon adds the values of add to the set dst and returns it sorted
// newest first (descending [compareValue]) with no two equal values. dst
// must be nil or a slice this function returned.
func canonicalAnon(dst, add []Value) []Value {
	if len(add) == 0 {
		return dst
	}
	dst = append(dst, add...)
	slices.SortFunc(dst, func(x, y Value) int { return compareValue(y, x) })
	return slices.CompactFunc(dst, ValueEqual)
}

// copyClock returns c with fresh Entries, Values and Anon slices; the
// values themselves are shared.
func copyClock(c Clock) Clock {
	es := make([]Entry, len(c.Entries))
	copy(es, c.Entries)
	total := 0
	for _, e := range es {
		total += len(e.Values)
	}
	materialize(es, total, -1, nil)
	var out Clock
	if len(es) > 0 {
		out.Entries = es
	}
	out.Anon = canonicalAnon(nil, c.Anon)
	return out
}

// Clone returns a deep copy of c: it shares nothing with c, not even the
// values' Data and Meta.
func Clone(c Clock) Clock {
	out := copyClock(c)
	for k := range out.Entries {
		for n, v := range out.Entries[k].Values {
			out.Entries[k].Values[n] = cloneValue(v)
		}
	}
	for n, v := range out.Anon {
		out.Anon[n] = cloneValue(v)
	}
	return out
}

// Join returns c's history as a version vector: each actor with its
// counter, sorted by actor. It is the context a read returns. The empty
// history is nil.
func Join(c Clock) Context {
	var ctx Context
	for _, e := range c.Entries {
		if e.Counter == 0 {
			continue
		}
		if ctx == nil {
			ctx = make(Context, 0, len(c.Entries))
		}
		ctx = append(ctx, ContextEntry{Actor: e.Actor, Counter: e.Counter})
	}
	return ctx
}

// Values returns c's live values: the entries' values in actor order, each
// entry's newest first, then the anonymous values newest first. The slice is
// fresh; the values share Data and Meta with c. A clock without values
// returns nil.
func Values(c Clock) []Value {
	n := c.Len()
	if n == 0 {
		return nil
	}
	out := make([]Value, 0, n)
	for k := range c.Entries {
		vs, _ := live(&c.Entries[k])
		out = append(out, vs...)
	}
	return append(out, sortedAnon(c.Anon)...)
}

// sortedAnon returns anon in canonical order, copying only if it is not
// already canonical.
func sortedAnon(anon []Value) []Value {
	for k := 1; k < len(anon); k++ {
		if compareValue(anon[k-1], anon[k]) <= 0 {
			return canonicalAnon(nil, anon)
		}
	}
	return anon
}

// Sibling is one live value of a clock with its identity.
type Sibling struct {
	// ID names the sibling, stable across replicas and requests, and safe
	// in URLs and ETags: "<actor hex>-<counter decimal>" for a dotted value,
	// 16 hex digits of its content hash for an anonymous one.
	ID string
	// Dot is where the value was written; zero if Anonymous.
	Dot Dot
	// Anonymous marks a value without a dot (see [Clock]).
	Anonymous bool
	Value     Value
}

// Siblings returns c's live values with their identities, in the order of
// [Values].
func Siblings(c Clock) []Sibling {
	n := c.Len()
	if n == 0 {
		return nil
	}
	out := make([]Sibling, 0, n)
	for k := range c.Entries {
		e := &c.Entries[k]
		vs, _ := live(e)
		for i, v := range vs {
			d := Dot{Actor: e.Actor, Counter: e.Counter - uint64(i)}
			out = append(out, Sibling{ID: dotID(d), Dot: d, Value: v})
		}
	}
	for _, v := range sortedAnon(c.Anon) {
		out = append(out, Sibling{ID: anonID(&v), Anonymous: true, Value: v})
	}
	return out
}

func dotID(d Dot) string {
	var b [16 + 1 + 20]byte
	out := strconv.AppendUint(b[:0], uint64(d.Actor), 16)
	out = append(out, '-')
	out = strconv.AppendUint(out, d.Counter, 10)
	return string(out)
}

func anonID(v *Value) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	h := valueHash(v)
	for k := len(b) - 1; k >= 0; k-- {
		b[k] = digits[h&0xf]
		h >>= 4
	}
	return string(b[:])
}

// Equal reports whether a and b are the same clock: the same entries (actor,
// counter and ValueEqual values in order) and the same set of anonymous
// values. nil and empty slices are equal.
func Equal(a, b Clock) bool {
	if len(a.Entries) != len(b.Entries) {
		return false
	}
	for k := range a.Entries {
		x, y := &a.Entries[k], &b.Entries[k]
		if x.Actor != y.Actor || x.Counter != y.Counter || len(x.Values) != len(y.Values) {
			return false
		}
		for n := range x.Values {
			if !ValueEqual(x.Values[n], y.Values[n]) {
				return false
			}
		}
	}
	return subset(a.Anon, b.Anon) && subset(b.Anon, a.Anon)
}

func subset(xs, ys []Value) bool {
	for _, x := range xs {
		if !slices.ContainsFunc(ys, func(y Value) bool { return ValueEqual(x, y) }) {
			return false
		}
	}
	return true
}

// Len returns the number of live values of c, anonymous ones included.
func (c Clock) Len() int {
	n := 0
	for k := range c.Entries {
		vs, _ := live(&c.Entries[k])
		n += len(vs)
	}
	return n + len(c.Anon)
}

// IsTombstone reports whether c has at least one value and all of its
// values are deleted.
func IsTombstone(c Clock) bool { return IsTombstoneAt(c, math.MinInt64) }

// IsTombstoneAt reports whether c has values and each of them is a
// tombstone or has expired at now (Unix nanoseconds; see
// [Value.ExpiredAt]): a read at now finds the key deleted.
func IsTombstoneAt(c Clock, now int64) bool {
	if c.Len() == 0 {
		return false
	}
	for k := range c.Entries {
		vs, _ := live(&c.Entries[k])
		for _, v := range vs {
			if !v.Deleted && !v.ExpiredAt(now) {
				return false
			}
		}
	}
	for _, v := range c.Anon {
		if !v.Deleted && !v.ExpiredAt(now) {
			return false
		}
	}
	return true
}
