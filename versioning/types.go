package versioning

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// ActorID identifies who minted a dot. An actor must never mint the same
// dot twice; dynamod's coordinators use per-incarnation epochs, never
// reused (docs/design.md, "Actors are epochs").
type ActorID uint64

// Dot is one event: the Counter-th write coordinated by Actor.
type Dot struct {
	Actor   ActorID
	Counter uint64
}

// Value is one sibling's payload and metadata. Versioning treats it as
// opaque: it compares and hashes values but never reads their meaning.
type Value struct {
	// Data is the value's bytes. A tombstone has none.
	Data []byte
	// ContentType is the MIME type the client sent; empty means
	// application/octet-stream.
	ContentType string
	// LastModified is the coordinator's wall clock in Unix nanoseconds. It is
	// for display and the lww resolver (package resolve) only, never for
	// causality.
	LastModified int64
	// Deleted marks a tombstone.
	Deleted bool
	// Expires is when the value expires, in Unix nanoseconds of the
	// receiving node's wall clock; 0 never. From then on a coordinator
	// treats it as deleted (see [Value.ExpiredAt]). Like LastModified it
	// never takes part in causality.
	Expires int64
	// Meta holds user metadata (Dynamod-Meta-* headers), lower-case names.
	// nil and empty are equal.
	Meta map[string]string
}

// Entry is one actor's part of a [Clock]: the actor has coordinated Counter
// writes, and Values holds the still-live values among them, newest first:
// Values[i] was written at dot (Actor, Counter-i). len(Values) <= Counter.
type Entry struct {
	Actor   ActorID
	Counter uint64
	Values  []Value
}

// Clock is a dotted version vector set (DVVSet): the causal history of one
// key together with its live concurrent values.
//
// Invariants: Entries are sorted by Actor with no duplicates and no entry with
// Counter 0; each entry satisfies the [Entry] invariant. Anon holds values
// without a dot; it never holds two equal values. [New] writes one on the
// client side and [Update] gives it a dot, so the server never stores
// anonymous values; every function still accepts them, read as dotless
// merges of the history the clock carries, and [Update] and [Sync] say when
// they are kept.
//
// The zero Clock is the empty history with no values.
type Clock struct {
	Entries []Entry
	Anon    []Value
}

// Context is a version vector: the causal history a client has seen, as
// returned by [Join] and carried in the Dynamod-Context header. It is sorted
// by Actor with no duplicates and no zero counters. The nil Context means
// "has seen nothing".
type Context []ContextEntry

// ContextEntry is one actor's counter in a [Context].
type ContextEntry struct {
	Actor   ActorID
	Counter uint64
}

// Validate checks the [Clock] invariants. Decoders of bytes from disk or from
// peers call it, so that a malformed clock is an error, never a panic later.
func (c Clock) Validate() error {
	for i, e := range c.Entries {
		if e.Counter == 0 {
			return fmt.Errorf("%w: entry %d has counter 0", ErrBadClock, i)
		}
		if uint64(len(e.Values)) > e.Counter {
			return fmt.Errorf("%w: entry %d has %d values for counter %d", ErrBadClock, i, len(e.Values), e.Counter)
		}
		if i > 0 && c.Entries[i-1].Actor >= e.Actor {
			return fmt.Errorf("%w: entries not sorted by actor at %d", ErrBadClock, i)
		}
	}
	if i, j, ok := duplicateValue(c.Anon); ok {
		return fmt.Errorf("%w: anonymous values %d and %d are equal", ErrBadClock, i, j)
	}
	return nil
}

// duplicateValue finds two equal values in vs, in O(n log n) so that a
// hostile clock with many anonymous values costs little to reject.
func duplicateValue(vs []Value) (int, int, bool) {
	if len(vs) < 2 {
		return 0, 0, false
	}
	type hashed struct {
		h uint64
		i int
	}
	hs := make([]hashed, len(vs))
	for i := range vs {
		hs[i] = hashed{valueHash(&vs[i]), i}
	}
	slices.SortFunc(hs, func(a, b hashed) int { return cmp.Compare(a.h, b.h) })
	for lo := 0; lo < len(hs); {
		hi := lo + 1
		for hi < len(hs) && hs[hi].h == hs[lo].h {
			hi++
		}
		for x := lo; x < hi; x++ { // equal hashes: compare the values
			for y := x + 1; y < hi; y++ {
				if ValueEqual(vs[hs[x].i], vs[hs[y].i]) {
					return min(hs[x].i, hs[y].i), max(hs[x].i, hs[y].i), true
				}
			}
		}
		lo = hi
	}
	return 0, 0, false
}

// Validate checks the [Context] invariants.
func (c Context) Validate() error {
	for i, e := range c {
		if e.Counter == 0 {
			return fmt.Errorf("%w: entry %d has counter 0", ErrBadContext, i)
		}
		if i > 0 && c[i-1].Actor >= e.Actor {
			return fmt.Errorf("%w: entries not sorted by actor at %d", ErrBadContext, i)
		}
	}
	return nil
}

// Sentinel errors.
var (
	// ErrBadContext: a causal context that cannot be decoded or breaks the
	// Context invariants.
	ErrBadContext = errors.New("versioning: bad context")
	// ErrBadClock: a clock that breaks the Clock invariants.
	ErrBadClock = errors.New("versioning: bad clock")
)
