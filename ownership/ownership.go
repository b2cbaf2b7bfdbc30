// Package ownership decides who serves a partition while the member set
// changes: which members hold its data, where reads and writes go while new
// owners are still receiving it, which partitions a member must receive, and
// when an old owner may let go of one. See docs/design.md, "Membership
// changes".
//
// The rules rest on one fact per member, its settled set: the member set
// whose ring it last finished receiving data for. A member holds partition
// p for an n_val of n exactly when it is among the first n of p's walk in
// the ring of its own settled set. The target ring is the ring of the
// members that will own partitions once every transfer is done (joining and
// joined ones). A member that is a primary of p in the target ring but does
// not hold p yet is pending: it receives every write of p, its answers to
// reads never count, and a holder that lost p stands in for it until it has
// received p and settled at the target. A member settles only after
// receiving every partition it needs, so no read is ever answered by a
// member that lacks data it should have.
//
// A member that settles at a new target keeps holding the partitions it
// lost (its extra partitions) until every new primary of each holds it;
// only then may it release one, so that a partition always has a holder to
// serve it.
//
// The package is pure: rings come in as values, and every function is a
// function of them (deps_test.go).
package ownership

import (
	"slices"

	"github.com/dynamod/dynamod/ring"
)

// Holding is what one member holds: the primaries' share of the ring of
// its settled set, plus extra partitions it kept from an earlier settled
// set and has not released yet.
type Holding struct {
	// Ring is the ring of the member's settled set; nil if it never
	// settled.
	Ring *ring.Ring
	// Extra are partitions held beyond Ring's share.
	Extra Set
}

// View is one snapshot of ownership: the target ring and what every member
// that may hold data (joining, joined or leaving) holds. Immutable and safe
// for concurrent use.
type View struct {
	target *ring.Ring
	// held maps a member to its holding.
	held map[string]Holding
	// others are the settled members outside the target (leaving ones),
	// sorted: they may stand in for pending primaries.
	others []string
	// steady: every target member settled at the target and nobody else
	// holds data, so the target walks are the whole truth.
	steady bool
}

// New returns the view of target and the members' holdings. A nil map, or
// a member missing from it, means that member holds nothing. Every ring
// must have the target's partition count.
func New(target *ring.Ring, held map[string]Holding) *View {
	v := &View{target: target, held: held}
	tm := target.Members()
	v.steady = true
	for _, m := range tm {
		if !v.SettledAt(m) {
			v.steady = false
		}
	}
	for m, h := range held {
		if !h.Extra.Empty() {
			v.steady = false
		}
		if !slices.Contains(tm, m) && (h.Ring != nil || !h.Extra.Empty()) {
			v.others = append(v.others, m)
			v.steady = false
		}
	}
	slices.Sort(v.others)
	return v
}

// Steady returns a steady view of r: every member settled at r.
func Steady(r *ring.Ring) *View {
	s := make(map[string]Holding, len(r.Members()))
	for _, m := range r.Members() {
		s[m] = Holding{Ring: r}
	}
	return New(r, s)
}

// Target returns the target ring.
func (v *View) Target() *ring.Ring { return v.target }

// Steady reports whether no transfer is pending: every target member has
// settled at the target and no member outside it holds data.
func (v *View) Steady() bool { return v.steady }

// SettledAt reports whether member has settled at the target's member set.
func (v *View) SettledAt(member string) bool {
	h := v.held[member]
	return h.Ring != nil && slices.Equal(h.Ring.Members(), v.target.Members())
}

// Holds reports whether member holds partition p for an n_val of n.
func (v *View) Holds(member string, p, n int) bool {
	h := v.held[member]
	return h.Extra.Has(p) || (h.Ring != nil && slices.Contains(h.Ring.Preflist(p, n), member))
}

// Settle returns what member holds once it has received every partition
// it needs and settles at the target: the target's share, plus as extra
// partitions everything it held before that the target's share lacks.
func (v *View) Settle(member string, n int) Holding {
	next := Holding{Ring: v.target}
	for p := range v.target.Partitions() {
		if v.Holds(member, p, n) && !slices.Contains(v.target.Preflist(p, n), member) {
			next.Extra = next.Extra.Add(p)
		}
	}
	return next
}

// Place returns where partition p is served for an n_val of n. walk is the
// preference order the coordinator uses like a ring walk: its first serving
// entries serve p, the rest are fallbacks in the target walk's order.
// pending are target primaries that do not hold p yet: they receive writes,
// but their acks and read answers do not count. A pending primary is
// replaced by a holder that lost p where one is left; where none is, the
// partition is served by fewer replicas until the primary has received it
// (serving < min(n, members)), so a not-found from it never counts. Only
// when nobody holds p at all (a new cluster) do the target primaries serve
// as they are. In a steady view walk is the target walk, serving is
// min(n, len(walk)) and pending is nil. The returned walk may be shared
// with the ring: callers must not modify it.
func (v *View) Place(p, n int) (walk []string, serving int, pending []string) {
	tw := v.target.Walk(p)
	k := min(n, len(tw))
	if v.steady || len(tw) == 0 {
		return tw, k, nil
	}
	var subs []string // holders that are not target primaries, in order
	for _, m := range tw[k:] {
		if v.Holds(m, p, n) {
			subs = append(subs, m)
		}
	}
	for _, m := range v.others {
		if v.Holds(m, p, n) {
			subs = append(subs, m)
		}
	}
	anyHolder := len(subs) > 0
	for _, m := range tw[:k] {
		anyHolder = anyHolder || v.Holds(m, p, n)
	}
	walk = make([]string, 0, len(tw)+len(v.others))
	for _, m := range tw[:k] {
		switch {
		case v.Holds(m, p, n) || !anyHolder:
			walk = append(walk, m)
		case len(subs) > 0:
			walk = append(walk, subs[0])
			subs = subs[1:]
			pending = append(pending, m)
		default:
			pending = append(pending, m)
		}
	}
	serving = len(walk)
	for _, m := range tw[k:] {
		if !slices.Contains(walk, m) {
			walk = append(walk, m)
		}
	}
	return walk, serving, pending
}

// Needs returns, in increasing order, the partitions member must receive
// before it can settle at the target: those it is a target primary of (for
// an n_val of n) and does not hold. It is nil once member has settled at
// the target.
func (v *View) Needs(member string, n int) []int {
	if v.SettledAt(member) {
		return nil
	}
	var out []int
	for _, p := range v.target.Owned(member, n) {
		if !v.Holds(member, p, n) {
			out = append(out, p)
		}
	}
	return out
}

// Sources returns the members other than except that hold partition p for
// an n_val of n, in the order to ask them: target primaries first, then
// the rest of the target walk, then members outside the target.
func (v *View) Sources(p, n int, except string) []string {
	var out []string
	for _, m := range v.target.Walk(p) {
		if m != except && v.Holds(m, p, n) {
			out = append(out, m)
		}
	}
	for _, m := range v.others {
		if m != except && v.Holds(m, p, n) {
			out = append(out, m)
		}
	}
	return out
}

// Done reports whether every target primary of p (for an n_val of n) holds
// it: the partition needs no transfer and no stand-in.
func (v *View) Done(p, n int) bool {
	for _, m := range v.target.Preflist(p, n) {
		if !v.Holds(m, p, n) {
			return false
		}
	}
	return true
}

// Transfer is one partition a member still has to receive.
type Transfer struct {
	Partition int
	To        string
	// From lists the holders it can receive from, best first; empty when
	// nobody holds the partition (it is then settled without data).
	From []string
}

// Transfers lists every pending transfer of the view for an n_val of n,
// ordered by receiver, then partition.
func (v *View) Transfers(n int) []Transfer {
	if v.steady {
		return nil
	}
	var out []Transfer
	for _, m := range v.target.Members() {
		for _, p := range v.Needs(m, n) {
			out = append(out, Transfer{Partition: p, To: m, From: v.Sources(p, n, m)})
		}
	}
	return out
}

// Releasable reports whether member may drop its copy of partition p: it
// is no target primary of p, it has settled at the target or is outside
// it, and every target primary holds p, so no coordinator needs member to
// stand in for one.
func (v *View) Releasable(member string, p, n int) bool {
	if slices.Contains(v.target.Preflist(p, n), member) {
		return false
	}
	if slices.Contains(v.target.Members(), member) && !v.SettledAt(member) {
		return false
	}
	return v.Done(p, n)
}

// Extra returns the partitions member holds beyond its settled ring's
// share: the ones it releases once [View.Releasable].
func (v *View) Extra(member string) Set { return v.held[member].Extra }
