package ring

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// refRing is a naive reference for the natural (unbalanced) walks, written
// straight from the placement rule in placeTokens' doc: every member's tokens
// listed one by one, and each partition's walk found by measuring, for every
// member, the clockwise distance to its nearest token. Quadratic, for small
// rings only.
type refRing struct {
	members []string   // sorted, distinct
	order   [][]int    // order[p]: member indexes, natural walk
	dist    [][]uint64 // dist[p][m]: clockwise distance from p's start to m's first token
}

func newRefRing(cfg Config, members []string) refRing {
	ms := slices.Clone(members)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	t := cfg.Tokens
	width := math.MaxUint64 / (uint64(t) * uint64(t))
	pos := make([][]uint64, len(ms))
	for m, name := range ms {
		hs := make([]uint64, t)
		for i := range t {
			b := binary.AppendUvarint(nil, uint64(len(name)))
			b = append(b, name...)
			b = binary.LittleEndian.AppendUint32(b, uint32(i))
			hs[i] = xxhash.Sum64(b)
		}
		for i := range t {
			key := func(j int) uint64 { return hs[j]>>16<<16 | uint64(j) }
			rank := 0
			for j := range t {
				if key(j) < key(i) {
					rank++
				}
			}
			cell := uint64(i*t + rank)
			pos[m] = append(pos[m], cell*width+mix64(hs[i])%width)
		}
	}
	q := cfg.Partitions
	shift := 64 - uint(math.Log2(float64(q)))
	ref := refRing{members: ms, order: make([][]int, q), dist: make([][]uint64, q)}
	for p := range q {
		start := uint64(p) << shift // a shift by 64 gives 0 for q == 1
		d := make([]uint64, len(ms))
		for m := range ms {
			d[m] = math.MaxUint64
			for _, x := range pos[m] {
				d[m] = min(d[m], x-start) // uint64 wrap-around is the clockwise distance
			}
		}
		o := make([]int, len(ms))
		for m := range o {
			o[m] = m
		}
		slices.SortStableFunc(o, func(a, b int) int {
			switch {
			case d[a] < d[b]:
				return -1
			case d[a] > d[b]:
				return 1
			}
			return a - b
		})
		ref.order[p], ref.dist[p] = o, d
	}
	return ref
}

func (ref refRing) walk(p int) []string {
	out := make([]string, len(ref.order[p]))
	for i, m := range ref.order[p] {
		out[i] = ref.members[m]
	}
	return out
}

// randomTokenWalks is the textbook scheme the placement replaced, kept to
// measure against: T tokens per member at independent hashed positions, and
// the first distinct members clockwise from each partition's start.
func randomTokenWalks(tb testing.TB, cfg Config, members []string) [][]string {
	tb.Helper()
	toks := make([]token, 0, len(members)*cfg.Tokens)
	for m, name := range members {
		for i := range cfg.Tokens {
			toks = append(toks, token{pos: newTokenHasher(name).hash(uint32(i)), m: int32(m)})
		}
	}
	slices.SortFunc(toks, func(a, b token) int {
		if a.pos != b.pos {
			if a.pos < b.pos {
				return -1
			}
			return 1
		}
		return int(a.m - b.m)
	})
	q, s := cfg.Partitions, len(members)
	shift := 64 - uint(math.Log2(float64(q)))
	order, _ := naturalWalks(toks, s, q, shift)
	out := make([][]string, q)
	for p := range q {
		for _, m := range order[p*s : (p+1)*s] {
			out[p] = append(out[p], members[m])
		}
	}
	return out
}
