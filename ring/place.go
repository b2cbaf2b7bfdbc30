package ring

import (
	"cmp"
	"math"
	"slices"
)

// token is one point a member places on the ring.
type token struct {
	pos uint64
	m   int32 // index into the sorted members
}

// placeTokens returns the tokens of members sorted by position (ties, which
// need a 64-bit collision, by member index).
//
// The ring is cut into T equal strata and every stratum into T equal cells.
// A member puts its token i into stratum i, in the cell given by the rank of
// token i's key among its T keys, at a hashed offset inside the cell; the key
// of token i is the top 48 bits of its hash (see tokenHasher) followed by i
// as 16 bits. Each member therefore has exactly one token per stratum, and
// across the strata its tokens sit once at every relative height: its
// ownership is spread evenly instead of randomly, which roughly halves the
// variance of members' loads (see doc.go). Tokens depend on the name and T
// alone, so adding a member never moves another member's tokens.
func placeTokens(members []string, t int) []token {
	s := len(members)
	cells := uint64(t) * uint64(t) // <= 2^32 by Config limits
	width := math.MaxUint64 / cells
	toks := make([]token, s*t) // stratum-major: toks[i*s+m] until sorted
	hs := make([]uint64, t)
	keys := make([]uint64, t)
	for m, name := range members {
		th := newTokenHasher(name)
		for i := range t {
			hs[i] = th.hash(uint32(i))
			keys[i] = hs[i]&^0xffff | uint64(i) // i < 2^16 by Config limits
		}
		slices.Sort(keys)
		for rank, k := range keys {
			i := k & 0xffff
			cell := i*uint64(t) + uint64(rank)
			toks[int(i)*s+m] = token{pos: cell*width + mix64(hs[i])%width, m: int32(m)}
		}
	}
	// Stratum i holds exactly the tokens i, in increasing order of strata,
	// so sorting within each stratum sorts the ring.
	for i := range t {
		slices.SortFunc(toks[i*s:(i+1)*s], func(a, b token) int {
			if c := cmp.Compare(a.pos, b.pos); c != 0 {
				return c
			}
			return cmp.Compare(a.m, b.m)
		})
	}
	return toks
}

// naturalWalks walks clockwise from every partition's start and returns, for
// partition p, the s members in the order their first token is met
// (order[p*s:(p+1)*s]) and the distance from the start to that token
// (dist[p*s:(p+1)*s]). Every member has a token, so each walk ends within
// one revolution.
func naturalWalks(toks []token, s, q int, shift uint) (order []int32, dist []uint64) {
	order = make([]int32, q*s)
	dist = make([]uint64, q*s)
	seen := make([]int, s) // partition+1 that last saw the member
	i := 0                 // first token at or after the current start
	for p := range q {
		start := uint64(p) << shift
		for i < len(toks) && toks[i].pos < start {
			i++
		}
		row, drow := order[p*s:(p+1)*s], dist[p*s:(p+1)*s]
		k := 0
		for j := 0; k < s && j < len(toks); j++ {
			at := i + j
			if at >= len(toks) {
				at -= len(toks)
			}
			t := toks[at]
			if seen[t.m] == p+1 {
				continue
			}
			seen[t.m] = p + 1
			row[k], drow[k] = t.m, t.pos-start // wraps mod 2^64 past the top
			k++
		}
	}
	return order, dist
}

// capacity is the most slots among the first n of every walk that one of s
// members may hold: MaxLoad times the mean, rounded down, but never below the
// mean rounded up (which must be allowed for every partition to fill). Only
// one multiplication and one division: IEEE results, the same on every node.
func capacity(maxLoad float64, q, s, n int) int {
	mean := float64(q*n) / float64(s)
	return max((q*n+s-1)/s, int(math.Floor(maxLoad*mean)))
}

// hold is a member's claim on one of the first n slots of partition p, found
// at position rank of p's natural walk at distance dist from its start.
type hold struct {
	dist uint64
	rank int32
	p    int32
}

// weaker reports whether a member prefers to give up a rather than b: it
// keeps the partitions where it comes earlier in the natural walk, then those
// whose start its token is closer to.
func weaker(a, b hold) bool {
	if a.rank != b.rank {
		return a.rank > b.rank
	}
	if a.dist != b.dist {
		return a.dist > b.dist
	}
	return a.p > b.p
}

// balance bounds loads. It picks the primaries, the first n members of each
// of the q walks, so that no member holds more than capacity(n) of them, then
// orders each partition's primaries so that, for every k < n, no member is
// among the first k more than about capacity(k) times. It returns the walks:
// the primaries in that order, then the other members in natural order.
//
// The pick is the partition-optimal stable matching (Gale–Shapley deferred
// acceptance, many-to-many; see match). Stable matchings with strict
// preferences make the result independent of the order of asking, and a
// member below capacity keeps every partition it naturally serves, so only
// members at capacity shift data beyond plain consistent hashing. With a
// tight bound on a small ring a partition can be turned away by every member;
// fill then completes it.
//
// The order is chosen the same way, one position at a time, among each
// partition's remaining primaries; it moves no data for an n_val of n, but
// spreads the first primary (the write coordinator) and the smaller prefixes
// evenly. Choosing only among a partition's primaries may make a bound
// unreachable; fill then exceeds it, so these smaller bounds are soft.
func balance(nat []int32, dist []uint64, q, s, n int, maxLoad float64) []int32 {
	room := make([]int, s)
	for m := range room {
		room[m] = capacity(maxLoad, q, s, n)
	}
	cand := make([]int32, q*s) // every natural position, in order
	for i := range cand {
		cand[i] = int32(i % s)
	}
	heaps, next := match(nat, dist, q, s, cand, s, n, room)

	// Primaries as sets: holds[p*s+m] and, per member, its partitions.
	holds := make([]bool, q*s)
	held := make([][]int32, s)
	for m, h := range heaps {
		for _, x := range h {
			holds[int(x.p)*s+m] = true
			held[m] = append(held[m], x.p)
		}
	}
	for p := range q {
		if next[p] == int32(s) { // asked everyone: may be short of n
			fill(int32(p), nat, s, n, room, holds, held)
		}
	}

	// Order: position j of partition p is one of its w = n-j primaries not
	// yet placed, cand[p*w:(p+1)*w] by natural position.
	out := make([]int32, q*s)
	cand = cand[:0]
	for p := range q {
		for k, m := range nat[p*s : (p+1)*s] {
			if holds[p*s+int(m)] {
				cand = append(cand, int32(k))
			}
		}
	}
	placed := make([]int, s) // how often each member is among the first j
	for j := range n - 1 {
		w := n - j
		for m := range room {
			room[m] = max(0, capacity(maxLoad, q, s, j+1)-placed[m])
		}
		heaps, next := match(nat, dist, q, s, cand, w, 1, room)
		members := make([]int32, q*w) // the candidates as members, for fill
		for i, k := range cand {
			members[i] = nat[(i/w)*s+int(k)]
		}
		in := make([]bool, q*s)
		at := make([][]int32, s)
		pick := make([]int32, q) // member placed at j
		for m, h := range heaps {
			for _, x := range h {
				in[int(x.p)*s+m] = true
				at[m] = append(at[m], x.p)
			}
		}
		for p := range q {
			if next[p] == int32(w) {
				fill(int32(p), members, w, 1, room, in, at)
			}
		}
		for m, ps := range at {
			for _, p := range ps {
				pick[p] = int32(m)
			}
		}
		rest := cand[:0] // compacted in place: row p shrinks from w to w-1
		for p := range q {
			m := pick[p]
			out[p*s+j] = m
			placed[m]++
			for _, k := range cand[p*w : (p+1)*w] {
				if nat[p*s+int(k)] != m {
					rest = append(rest, k)
				}
			}
		}
		cand = rest
	}
	for p := range q {
		row := out[p*s : (p+1)*s]
		row[n-1] = nat[p*s+int(cand[p])] // the one primary left
		i := n
		for _, m := range nat[p*s : (p+1)*s] {
			if !holds[p*s+int(m)] {
				row[i] = m
				i++
			}
		}
	}
	return out
}

// match runs many-to-many deferred acceptance. Partition p asks, in order,
// the members at the natural positions cand[p*w:(p+1)*w] until need of them
// hold it; member m holds at most room[m] partitions, and to take one more
// it drops the one it holds most weakly (see weaker), which then asks its
// next candidate. It returns every member's holds and how far each
// partition got through its candidates (w: it asked them all).
func match(nat []int32, dist []uint64, q, s int, cand []int32, w, need int, room []int) ([]holdHeap, []int32) {
	heaps := make([]holdHeap, s)
	next := make([]int32, q)
	ask := func(p int32) {
		for int(next[p]) < w { // each round advances a next[p]: at most q·w in all
			k := cand[int(p)*w+int(next[p])]
			next[p]++
			at := int(p)*s + int(k)
			m := nat[at]
			heaps[m].push(hold{dist: dist[at], rank: k, p: p})
			if len(heaps[m]) <= room[m] {
				return
			}
			p = heaps[m].pop().p // p itself, or a partition m held more weakly
		}
	}
	for p := range int32(q) {
		for range need {
			ask(p)
		}
	}
	return heaps, next
}

// fill completes partition p0 if deferred acceptance left it with fewer than
// need holders, which happens only when every candidate outside it has no
// room: for the primaries, when all members outside it are at capacity, so
// only with a tight MaxLoad on a small ring. Partition x's
// candidates are the members cands[x*w:(x+1)*w]; holds[x*s+m] and held[m]
// are the current assignment, which fill extends.
//
// It finds augmenting paths, as in a max-flow: p0 is taken by a member
// without room that gives up another partition to a second candidate, and so
// on until a member with room takes one. For the primaries a capacity of at
// least the mean rounded up makes a complete assignment exist, so a path
// always exists. Where none does (possible when ordering the primaries), the
// final loop has p0 take its first candidates regardless.
func fill(p0 int32, cands []int32, w, need int, room []int, holds []bool, held [][]int32) {
	s := len(held)
	count := func(p int32) int {
		c := 0
		for _, ok := range holds[int(p)*s : int(p+1)*s] {
			if ok {
				c++
			}
		}
		return c
	}
	for count(p0) < need { // each round adds a holder to p0
		via := make([]int32, s)   // via[m]: the partition m would take
		from := map[int32]int32{} // from[x]: the member that would give up x
		seen := make([]bool, s)
		queue := []int32{p0}
		taker := int32(-1)
	search:
		for len(queue) > 0 { // a partition is queued at most once
			x := queue[0]
			queue = queue[1:]
			for _, m := range cands[int(x)*w : int(x+1)*w] {
				if seen[m] || holds[int(x)*s+int(m)] {
					continue
				}
				seen[m], via[m] = true, x
				if len(held[m]) < room[m] {
					taker = m
					break search
				}
				for _, y := range held[m] {
					if _, ok := from[y]; !ok && y != p0 {
						from[y] = m
						queue = append(queue, y)
					}
				}
			}
		}
		if taker < 0 {
			break
		}
		for m := taker; ; { // m takes via[m]; the member it came from gives it up
			x := via[m]
			holds[int(x)*s+int(m)] = true
			held[m] = append(held[m], x)
			if x == p0 {
				break
			}
			g := from[x]
			holds[int(x)*s+int(g)] = false
			held[g] = slices.DeleteFunc(held[g], func(y int32) bool { return y == x })
			m = g
		}
	}
	for _, m := range cands[int(p0)*w : int(p0+1)*w] { // no path: exceed the bound
		if count(p0) >= need {
			break
		}
		if !holds[int(p0)*s+int(m)] {
			holds[int(p0)*s+int(m)] = true
			held[m] = append(held[m], p0)
		}
	}
}

// holdHeap is a max-heap of holds by weaker: the root is the weakest hold.
type holdHeap []hold

func (h *holdHeap) push(x hold) {
	*h = append(*h, x)
	a := *h
	i := len(a) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !weaker(a[i], a[parent]) {
			break
		}
		a[i], a[parent] = a[parent], a[i]
		i = parent
	}
}

func (h *holdHeap) pop() hold {
	a := *h
	top := a[0]
	last := len(a) - 1
	a[0] = a[last]
	a = a[:last]
	i := 0
	for {
		l, w := 2*i+1, i
		if l < len(a) && weaker(a[l], a[w]) {
			w = l
		}
		if r := l + 1; r < len(a) && weaker(a[r], a[w]) {
			w = r
		}
		if w == i {
			break
		}
		a[i], a[w] = a[w], a[i]
		i = w
	}
	*h = a
	return top
}
