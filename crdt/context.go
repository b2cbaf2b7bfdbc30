package crdt

import (
	"cmp"
	"slices"

	"github.com/dynamod/dynamod/versioning"
)

// Dot is one event: the N-th dot minted by Actor for a key's state.
type Dot struct {
	Actor versioning.ActorID
	N     uint64
}

func compareDots(a, b Dot) int {
	if c := cmp.Compare(a.Actor, b.Actor); c != 0 {
		return c
	}
	return cmp.Compare(a.N, b.N)
}

// Context is a causal context: the dots a state has seen. It is a version
// vector (every dot of an actor up to its entry) plus a cloud of dots seen
// out of order. It is kept compact: a cloud dot that extends its actor's
// entry folds into it, and a covered one is dropped. The zero Context has
// seen nothing. Methods never modify their receiver's slices in place.
type Context struct {
	// VV is sorted by actor; every N is at least 1.
	VV []Dot
	// Cloud is sorted; each dot is past its actor's VV entry plus one.
	Cloud []Dot
}

func (c Context) vv(a versioning.ActorID) uint64 {
	i, ok := slices.BinarySearchFunc(c.VV, a, func(d Dot, a versioning.ActorID) int { return cmp.Compare(d.Actor, a) })
	if ok {
		return c.VV[i].N
	}
	return 0
}

// Contains reports whether c has seen d.
func (c Context) Contains(d Dot) bool {
	if d.N <= c.vv(d.Actor) {
		return true
	}
	_, ok := slices.BinarySearchFunc(c.Cloud, d, compareDots)
	return ok
}

// Max is the highest counter of actor that c has seen (0 if none).
func (c Context) Max(a versioning.ActorID) uint64 {
	m := c.vv(a)
	for _, d := range c.Cloud {
		if d.Actor == a {
			m = max(m, d.N)
		}
	}
	return m
}

// Next is the dot actor mints next over c.
func (c Context) Next(a versioning.ActorID) Dot { return Dot{a, c.Max(a) + 1} }

// Covers reports whether c has seen every dot of o.
func (c Context) Covers(o Context) bool {
	for _, d := range o.VV {
		if c.vv(d.Actor) >= d.N {
			continue
		}
		// Every dot up to d.N must be in c: the vector's entry plus the
		// cloud's run after it.
		for n := c.vv(d.Actor) + 1; n <= d.N; n++ {
			if !c.Contains(Dot{d.Actor, n}) {
				return false
			}
		}
	}
	for _, d := range o.Cloud {
		if !c.Contains(d) {
			return false
		}
	}
	return true
}

// Add returns c with d added, compacted.
func (c Context) Add(d Dot) Context {
	if c.Contains(d) {
		return c
	}
	cloud := slices.Clone(c.Cloud)
	i, _ := slices.BinarySearchFunc(cloud, d, compareDots)
	cloud = slices.Insert(cloud, i, d)
	return compact(slices.Clone(c.VV), cloud)
}

// JoinContext returns the union of a and b, compacted.
func JoinContext(a, b Context) Context {
	vv := make([]Dot, 0, len(a.VV)+len(b.VV))
	i, j := 0, 0
	for i < len(a.VV) || j < len(b.VV) {
		switch {
		case j == len(b.VV) || (i < len(a.VV) && a.VV[i].Actor < b.VV[j].Actor):
			vv = append(vv, a.VV[i])
			i++
		case i == len(a.VV) || b.VV[j].Actor < a.VV[i].Actor:
			vv = append(vv, b.VV[j])
			j++
		default:
			vv = append(vv, Dot{a.VV[i].Actor, max(a.VV[i].N, b.VV[j].N)})
			i++
			j++
		}
	}
	cloud := mergeDots(a.Cloud, b.Cloud)
	return compact(vv, cloud)
}

// mergeDots is the sorted union of two sorted dot lists.
func mergeDots(a, b []Dot) []Dot {
	out := make([]Dot, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && compareDots(a[i], b[j]) < 0):
			out = append(out, a[i])
			i++
		case i == len(a) || compareDots(b[j], a[i]) < 0:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// compact folds cloud dots into vv (both sorted, owned by the caller):
// a dot at its actor's entry plus one extends the entry, a covered dot
// goes.
func compact(vv, cloud []Dot) Context {
	var rest []Dot
	for _, d := range cloud { // sorted: an actor's dots come in order
		i, ok := slices.BinarySearchFunc(vv, d.Actor, func(e Dot, a versioning.ActorID) int { return cmp.Compare(e.Actor, a) })
		have := uint64(0)
		if ok {
			have = vv[i].N
		}
		switch {
		case d.N <= have:
		case d.N == have+1:
			if ok {
				vv[i].N = d.N
			} else {
				vv = slices.Insert(vv, i, d)
			}
		default:
			rest = append(rest, d)
		}
	}
	// A dot left in the cloud may have become contiguous only after a
	// later one of another actor was folded; actors are independent, and
	// within an actor the cloud is sorted, so one pass suffices.
	if len(rest) == 0 {
		rest = nil
	}
	if len(vv) == 0 {
		vv = nil
	}
	return Context{VV: vv, Cloud: rest}
}

func (c Context) equal(o Context) bool {
	return slices.Equal(c.VV, o.VV) && slices.Equal(c.Cloud, o.Cloud)
}
