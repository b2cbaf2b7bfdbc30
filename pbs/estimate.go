package pbs

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Model is how dynamod places and coordinates requests, as [Estimate]
// assumes it. Replicas are numbered 0..N-1 in preference order.
//
//   - The write: a client's write reaches one of Coordinators nodes,
//     uniformly. If that node is a replica it coordinates the write,
//     otherwise the node forwards it to replica 0 (the first primary). The
//     coordinator applies the write before it sends anything, so its own
//     copy is applied and acknowledged at time 0; every other replica j
//     applies it W_j later and its ack arrives W_j+A_j after the start.
//     The write is acknowledged at its W-th acknowledgement.
//   - The read starts t after the acknowledgement and reaches a node
//     drawn the same way, independently. A replica reads itself first, at
//     once, then asks the others in preference order; another node asks
//     replicas 0, 1, ... A read asks R replicas, or all N for the
//     FullReads share of reads, and the rest too if it is still waiting
//     after Speculative. Replica j, asked at offset o_j, reads its store
//     o_j+R_j after the read started and its answer arrives S_j later.
//     The read returns with the first R answers.
//   - The read is consistent if one of those R replicas had applied the
//     write when it read its store.
//
// Every latency is drawn independently from the samples of its kind; a
// read or write is never lost, refused or retried. Sloppy quorums
// (fallbacks), hinted handoff, read repair and anti-entropy are not
// modelled: they only make reads fresher.
type Model struct {
	// N is the number of replicas of a key (n_val, at most the members).
	N int
	// Coordinators is how many nodes clients spread requests over. Less
	// than N counts as N.
	Coordinators int
	// FullReads is the share of reads that ask all N replicas at once
	// (the bucket's read_repair_chance), 0 to 1.
	FullReads float64
	// Speculative is how long a read waits for the replicas it asked
	// before it asks the others (quorum.Config.SpeculativeRead); 0: never.
	Speculative time.Duration
}

// Curve is the estimated t-visibility of one R and W.
type Curve struct {
	R, W int
	// P[i] is the probability that a read started ts[i] after the write's
	// acknowledgement returns the write or a newer one.
	P []float64
}

// Estimate runs trials Monte Carlo trials of m, drawing latencies from s,
// and returns the t-visibility at each of ts (negative values count as 0)
// for every R and W in 1..N, ordered by R, then W. All curves share the
// trials' draws, so they are comparable with each other. It returns nil if
// trials < 1, N < 1 or, for N > 1, a kind has no samples; with N = 1 every
// read is consistent and no samples are needed.
func Estimate(m Model, s Snapshot, ts []time.Duration, trials int, rng *rand.Rand) []Curve {
	n := m.N
	if trials < 1 || n < 1 {
		return nil
	}
	if n > 1 {
		for k := WriteRequest; k <= ReadResponse; k++ {
			if s.Count(k) == 0 {
				return nil
			}
		}
	}
	tns := make([]int64, len(ts))
	for i, t := range ts {
		tns[i] = max(int64(t), 0)
	}
	e := newEstimator(m, s, rng)
	hits := make([]int, n*n*len(ts)) // [r-1][w-1][i]
	for range trials {
		e.trial()
		for r := 1; r <= n; r++ {
			for w := 1; w <= n; w++ {
				// Consistent at t iff some counted replica had applied the
				// write when it read: W_j <= commit + t + arrive_j.
				tau := e.minLag[r] - e.commit[w]
				row := hits[((r-1)*n+w-1)*len(ts):][:len(ts)]
				for i, t := range tns {
					if tau <= t {
						row[i]++
					}
				}
			}
		}
	}
	out := make([]Curve, 0, n*n)
	for r := 1; r <= n; r++ {
		for w := 1; w <= n; w++ {
			row := hits[((r-1)*n+w-1)*len(ts):][:len(ts)]
			p := make([]float64, len(ts))
			for i, h := range row {
				p[i] = float64(h) / float64(trials)
			}
			if r+w > n {
				// The model gives exactly 1 (see trial); say so without
				// rounding.
				for i := range p {
					p[i] = 1
				}
			}
			out = append(out, Curve{R: r, W: w, P: p})
		}
	}
	return out
}

// estimator holds one trial's draws and results; its slices are reused
// across trials.
type estimator struct {
	m      Model
	s      Snapshot
	rng    *rand.Rand
	coords int
	// per replica, ns: apply, ack, read-request and read-response latency
	w, a, r, sr []int64
	// arrive and reply are a read's request arrival and answer times at
	// each replica, from the read's start.
	arrive, reply []int64
	order         []int // the order a read asks replicas in
	acks          []int64
	byReply       []int
	// commit[w] is when the write is acknowledged with W = w, from its
	// start; minLag[r] is, over the R = r replicas a read counts, the
	// least W_j - arrive_j.
	commit, minLag []int64
}

func newEstimator(m Model, s Snapshot, rng *rand.Rand) *estimator {
	n := m.N
	mk := func() []int64 { return make([]int64, n) }
	return &estimator{
		m: m, s: s, rng: rng, coords: max(m.Coordinators, n),
		w: mk(), a: mk(), r: mk(), sr: mk(), arrive: mk(), reply: mk(),
		order: make([]int, n), acks: make([]int64, 0, n), byReply: make([]int, 0, n),
		commit: make([]int64, n+1), minLag: make([]int64, n+1),
	}
}

// draw returns a random sample of kind k.
func (e *estimator) draw(k Kind) int64 {
	x := e.s.Of(k)
	return int64(x[e.rng.IntN(len(x))])
}

// trial draws one write and one read and fills commit and minLag.
//
// For R+W > N it always finds minLag[r] <= commit[w]: the W replicas
// acknowledged by the commit (the coordinator and W-1 others) applied the
// write by then, and R counted replicas meet at least one of them, whose
// W_j - arrive_j <= W_j <= commit. Estimate relies on it.
func (e *estimator) trial() {
	n := e.m.N
	writer := e.rng.IntN(e.coords)
	if writer >= n {
		writer = 0 // forwarded to the first primary
	}
	reader := e.rng.IntN(e.coords)
	if reader >= n {
		reader = -1 // not a replica: asks them all over the network
	}
	full := e.m.FullReads > 0 && e.rng.Float64() < e.m.FullReads
	if n > 1 {
		for j := range n {
			e.w[j], e.a[j] = e.draw(WriteRequest), e.draw(WriteAck)
			e.r[j], e.sr[j] = e.draw(ReadRequest), e.draw(ReadResponse)
		}
	}
	e.w[writer], e.a[writer] = 0, 0 // applied before anything is sent
	if reader >= 0 {
		e.r[reader], e.sr[reader] = 0, 0 // an inline read
	}

	// The write: acknowledged by the coordinator at 0, then by the others
	// as their acks arrive.
	e.acks = e.acks[:0]
	for j := range n {
		if j != writer {
			e.acks = append(e.acks, e.w[j]+e.a[j])
		}
	}
	slices.Sort(e.acks)
	e.commit[1] = 0
	for w := 2; w <= n; w++ {
		e.commit[w] = e.acks[w-2]
	}

	// The read's order: itself first if it is a replica, then preference
	// order.
	e.order = e.order[:0]
	if reader >= 0 {
		e.order = append(e.order, reader)
	}
	for j := range n {
		if j != reader {
			e.order = append(e.order, j)
		}
	}
	for j := range n {
		e.arrive[j] = e.r[j]
		e.reply[j] = e.r[j] + e.sr[j]
	}
	if full {
		// Every replica asked at once: the first R answers count.
		e.firstAnswers(n)
		return
	}
	lag := int64(math.MaxInt64)
	var slowest int64
	spec := int64(e.m.Speculative)
	for r := 1; r <= n; r++ {
		j := e.order[r-1]
		lag = min(lag, e.w[j]-e.arrive[j])
		slowest = max(slowest, e.reply[j])
		if spec <= 0 || r == n || slowest <= spec {
			// The R replicas asked answer before the speculative delay:
			// they are the ones counted.
			e.minLag[r] = lag
			continue
		}
		// Still waiting at the speculative delay: the others are asked
		// then, and the first R answers of all count.
		e.minLag[r] = e.speculate(r, spec)
	}
}

// firstAnswers sets minLag for reads that asked every replica at once.
func (e *estimator) firstAnswers(n int) {
	e.byReply = e.byReply[:0]
	for j := range n {
		e.byReply = append(e.byReply, j)
	}
	slices.SortFunc(e.byReply, func(x, y int) int { return cmpInt64(e.reply[x], e.reply[y]) })
	lag := int64(math.MaxInt64)
	for r := 1; r <= n; r++ {
		j := e.byReply[r-1]
		lag = min(lag, e.w[j]-e.arrive[j])
		e.minLag[r] = lag
	}
}

// speculate returns minLag for an R = r read that asked its first r
// replicas at 0 and the others at spec.
func (e *estimator) speculate(r int, spec int64) int64 {
	n := e.m.N
	e.byReply = e.byReply[:0]
	arrive := func(pos int) int64 {
		j := e.order[pos]
		if pos < r {
			return e.arrive[j]
		}
		return spec + e.arrive[j]
	}
	for pos := range n {
		e.byReply = append(e.byReply, pos)
	}
	replyAt := func(pos int) int64 { return arrive(pos) + e.sr[e.order[pos]] }
	slices.SortFunc(e.byReply, func(x, y int) int { return cmpInt64(replyAt(x), replyAt(y)) })
	lag := int64(math.MaxInt64)
	for _, pos := range e.byReply[:r] {
		lag = min(lag, e.w[e.order[pos]]-arrive(pos))
	}
	return lag
}

func cmpInt64(x, y int64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// staleAll is p_s of Bailis et al.: the probability that R replicas drawn
// at random miss all W replicas a write reached, C(N-W, R) / C(N, R).
func staleAll(n, r, w int) float64 {
	if n < 1 || r < 1 || w < 1 || r > n || w > n || r+w > n {
		return 0
	}
	p := 1.0
	// C(n-w, r)/C(n, r) = prod_{i=0}^{r-1} (n-w-i)/(n-i)
	for i := range r {
		p *= float64(n-w-i) / float64(n-i)
	}
	return p
}

// KStaleness is the probability that a read returns one of the last k
// versions of a key, for quorums of R and W replicas drawn at random
// without regard to latency (Bailis et al., §3): 1 - p_s^k with
// p_s = C(N-W, R)/C(N, R). It is 1 for R+W > N, and for k < 1 it is 0.
func KStaleness(n, r, w, k int) float64 {
	if k < 1 {
		return 0
	}
	return 1 - math.Pow(staleAll(n, r, w), float64(k))
}

// ExpectedVersionsBehind is the expected number of versions a read is
// behind under the same model: a read misses the last j versions with
// probability p_s^j, so the mean is the sum of p_s^j over j >= 1,
// p_s/(1-p_s). It is 0 for R+W > N.
func ExpectedVersionsBehind(n, r, w int) float64 {
	ps := staleAll(n, r, w)
	return ps / (1 - ps)
}
