package versioning

import "cmp"

// Reconcile merges c's siblings into one value with f, deterministically and
// without minting a dot: the result keeps [Join](c) as its history (every
// entry with no values) and holds f's result as its only, anonymous, value.
// f receives [Values](c), in that order, and must be a deterministic
// function of it (it must not keep or modify the slice). Two replicas that
// reconcile Equal clocks with the same f therefore reach Equal clocks, and
// Sync of the two is Equal to both.
//
// A clock with fewer than two values has nothing to merge: Reconcile returns
// a copy of it and does not call f.
//
// A later write whose context covers the result supersedes the merged value
// (see [Update]); so does a replica whose dead dots cover it (see [Sync]).
func Reconcile(c Clock, f func([]Value) Value) Clock {
	vals := Values(c)
	if len(vals) < 2 {
		return copyClock(c)
	}
	return resolved(c, f(vals))
}

// resolved returns Join(c) with v as the only, anonymous, value.
func resolved(c Clock, v Value) Clock {
	var es []Entry
	for _, ce := range Join(c) {
		if es == nil {
			es = make([]Entry, 0, len(c.Entries))
		}
		es = append(es, Entry{Actor: ce.Actor, Counter: ce.Counter})
	}
	return Clock{Entries: es, Anon: []Value{v}}
}

// LWW resolves c's siblings by last write wins: the value with the greatest
// LastModified survives, with [Reconcile]'s semantics (the history is kept,
// no dot is minted). Ties are broken deterministically: an anonymous value
// beats a dotted one, a dotted one with the greater dot (actor, then counter)
// beats another, and between anonymous values the greater content hash, then
// the greater content, wins. LWW loses concurrent writes by design.
func LWW(c Clock) Clock {
	sibs := Siblings(c)
	if len(sibs) < 2 {
		return copyClock(c)
	}
	best := 0
	for k := 1; k < len(sibs); k++ {
		if compareLWW(&sibs[k], &sibs[best]) > 0 {
			best = k
		}
	}
	return resolved(c, sibs[best].Value)
}

// compareLWW orders siblings for [LWW]; the greatest wins.
func compareLWW(a, b *Sibling) int {
	if c := cmp.Compare(a.Value.LastModified, b.Value.LastModified); c != 0 {
		return c
	}
	if a.Anonymous != b.Anonymous {
		if a.Anonymous {
			return 1
		}
		return -1
	}
	if !a.Anonymous {
		if c := cmp.Compare(a.Dot.Actor, b.Dot.Actor); c != 0 {
			return c
		}
		return cmp.Compare(a.Dot.Counter, b.Dot.Counter)
	}
	if c := cmp.Compare(valueHash(&a.Value), valueHash(&b.Value)); c != 0 {
		return c
	}
	return compareValue(a.Value, b.Value)
}
