package versioning

import "slices"

// Digest returns a 64-bit xxhash of c's causal state and values, for
// anti-entropy: [Equal] clocks have equal digests, and clocks that differ
// almost surely do not. It covers every entry (actor, counter, values in
// order) and the set of anonymous values, independent of their order and of
// duplicates, as Equal is. Map iteration order never matters. Nodes compare
// digests, so the function is the same in every process; a test pins it,
// and changing it changes every anti-entropy tree.
func Digest(c Clock) uint64 {
	var h hasher
	h.reset()
	h.u64(uint64(len(c.Entries)))
	for k := range c.Entries {
		e := &c.Entries[k]
		h.u64(uint64(e.Actor))
		h.u64(e.Counter)
		h.u64(uint64(len(e.Values)))
		for n := range e.Values {
			h.value(&e.Values[n])
		}
	}
	switch len(c.Anon) {
	case 0:
		h.u64(0)
	case 1:
		h.u64(1)
		h.u64(valueHash(&c.Anon[0]))
	default:
		var small [4]uint64
		hs := small[:0]
		for n := range c.Anon {
			hs = append(hs, valueHash(&c.Anon[n]))
		}
		slices.Sort(hs)
		hs = slices.Compact(hs)
		h.u64(uint64(len(hs)))
		for _, x := range hs {
			h.u64(x)
		}
	}
	return h.d.Sum64()
}
