package ring

import (
	"fmt"
	"math/bits"
	"slices"
)

// Ring maps partitions to preference walks over a member set. It is
// immutable and safe for concurrent use. Build one with [New].
type Ring struct {
	cfg     Config
	shift   uint     // 64 - log2(Partitions)
	members []string // sorted, distinct
	// walks holds every partition's walk back to back: partition p's is
	// walks[p*len(members) : (p+1)*len(members)]. idx has the same layout
	// and holds indexes into members.
	walks []string
	idx   []int32
}

// New builds the ring of members under cfg. The result is a pure function of
// cfg and the member set: order and duplicates in members do not matter.
// Zero members give a valid empty ring; an empty name is an error wrapping
// [ErrInvalidMember], a bad cfg one wrapping [ErrInvalidConfig].
//
// New precomputes every partition's walk: for S members it takes
// O(S·T·log T + Q·S) time plus the load-bounding matchings (a few
// milliseconds for 64 members with the defaults) and keeps about 20·Q·S
// bytes.
func New(cfg Config, members []string) (*Ring, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ms := slices.Clone(members)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	if len(ms) > 0 && ms[0] == "" {
		return nil, fmt.Errorf("%w: empty member name", ErrInvalidMember)
	}
	q := cfg.Partitions
	r := &Ring{
		cfg:     cfg,
		shift:   64 - uint(bits.TrailingZeros(uint(q))),
		members: ms,
	}
	s := len(ms)
	if s == 0 {
		return r, nil
	}
	nat, dist := naturalWalks(placeTokens(ms, cfg.Tokens), s, q, r.shift)
	r.idx = nat
	if n := min(cfg.NVal, s); cfg.MaxLoad != 0 && s > 1 {
		r.idx = balance(nat, dist, q, s, n, cfg.MaxLoad)
	}
	r.walks = make([]string, len(r.idx))
	for i, m := range r.idx {
		r.walks[i] = ms[m]
	}
	return r, nil
}

// Config returns the configuration r was built with.
func (r *Ring) Config() Config { return r.cfg }

// Members returns the members of r, sorted and distinct, in a new slice.
func (r *Ring) Members() []string { return slices.Clone(r.members) }

// Partitions returns Q, the number of partitions.
func (r *Ring) Partitions() int { return r.cfg.Partitions }

// Partition returns the partition that owns hash: its top log2(Q) bits.
func (r *Ring) Partition(hash uint64) int {
	return int(hash >> r.shift) // a shift by 64 gives 0, so Q = 1 works too
}

// Range returns the inclusive hash range [lo, hi] of partition p. The ranges
// of all partitions are disjoint and cover the 64-bit space in order. Range
// panics if p is not in [0, Partitions()).
func (r *Ring) Range(p int) (lo, hi uint64) {
	if p < 0 || p >= r.cfg.Partitions {
		panic(fmt.Sprintf("ring: partition %d out of range [0, %d)", p, r.cfg.Partitions))
	}
	lo = uint64(p) << r.shift
	return lo, lo + (uint64(1)<<r.shift - 1) // 1<<64 is 0 in uint64: hi = MaxUint64 when Q = 1
}

// Walk returns every member in preference order for partition p: the
// primaries first, then the order in which fallbacks stand in. The slice is
// shared: callers must not modify it. Walk does not allocate. It returns nil
// if p is not in [0, Partitions()) or the ring is empty.
func (r *Ring) Walk(p int) []string {
	s := len(r.members)
	if p < 0 || p >= r.cfg.Partitions || s == 0 {
		return nil
	}
	return r.walks[p*s : (p+1)*s : (p+1)*s]
}

// Preflist returns the first min(n, members) entries of [Ring.Walk]: the
// primaries of p for an n_val of n. The slice is shared and must not be
// modified. It is nil if n <= 0 or p is out of range.
func (r *Ring) Preflist(p, n int) []string {
	w := r.Walk(p)
	if n <= 0 || w == nil {
		return nil
	}
	return w[:min(n, len(w))]
}

// Owned returns, in increasing order, the partitions where member is among
// the first n of the walk. It is nil if member is not in r or n <= 0.
func (r *Ring) Owned(member string, n int) []int {
	m, ok := slices.BinarySearch(r.members, member)
	if !ok || n <= 0 {
		return nil
	}
	s := len(r.members)
	n = min(n, s)
	var out []int
	for p := range r.cfg.Partitions {
		if slices.Contains(r.idx[p*s:p*s+n], int32(m)) {
			out = append(out, p)
		}
	}
	return out
}

// Stats describes how the replica slots of a ring, the first n members of
// every partition's walk, are spread over its members.
type Stats struct {
	Members  int     // members in the ring
	Replicas int     // slots: Partitions · min(n, Members)
	Min, Max int     // fewest and most slots one member holds
	Mean     float64 // Replicas / Members
}

// Stats returns the spread of r's replica slots for an n_val of n. All fields
// are zero for an empty ring or n <= 0.
func (r *Ring) Stats(n int) Stats {
	s := len(r.members)
	if s == 0 || n <= 0 {
		return Stats{}
	}
	n = min(n, s)
	counts := make([]int, s)
	for p := range r.cfg.Partitions {
		for _, m := range r.idx[p*s : p*s+n] {
			counts[m]++
		}
	}
	total := r.cfg.Partitions * n
	return Stats{
		Members:  s,
		Replicas: total,
		Min:      slices.Min(counts),
		Max:      slices.Max(counts),
		Mean:     float64(total) / float64(s),
	}
}

// Moved returns how many (partition, member) slots among the first n of b's
// walks were not among the first n of a's: the replicas that must be handed
// off to go from a to b. A nil ring counts as empty. If a and b have
// different partition counts, no partition carries over and every slot of b
// counts.
func Moved(a, b *Ring, n int) int {
	if b == nil || len(b.members) == 0 || n <= 0 {
		return 0
	}
	nb := min(n, len(b.members))
	if a == nil || len(a.members) == 0 || a.cfg.Partitions != b.cfg.Partitions {
		return b.cfg.Partitions * nb
	}
	moved := 0
	for p := range b.cfg.Partitions {
		old := a.Preflist(p, n)
		for _, m := range b.Preflist(p, n) {
			if !slices.Contains(old, m) {
				moved++
			}
		}
	}
	return moved
}
