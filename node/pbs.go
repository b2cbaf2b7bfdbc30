package node

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/dynamod/dynamod/client"
	"github.com/dynamod/dynamod/pbs"
	"github.com/dynamod/dynamod/quorum"
)

// Staleness estimates (/cluster/pbs; docs/design.md, "Staleness (PBS)").
const (
	// pbsCacheFor is how long an answer is served again: a dashboard
	// polling every second from several tabs costs one estimate a second.
	pbsCacheFor = time.Second
	// pbsCacheMax bounds the buckets whose answers are cached; past it the
	// cache starts over (bucket names come from clients).
	pbsCacheMax = 64
	// pbsTrials is the Monte Carlo trials of an estimate, at most
	// pbsBudget trials × curves in all: N = 3 (9 curves) takes about 5 ms
	// of one core, N = 16 (256 curves, 1953 trials) about 25 ms
	// (BenchmarkEstimate).
	pbsTrials = 10000
	pbsBudget = 500_000
	// pbsMaxK is the k-staleness curve's last k.
	pbsMaxK = 5
)

// pbsGrid is the fixed t grid of every visibility curve, from the
// sub-millisecond delays of one rack to the half second of a slow WAN.
var pbsGrid = []time.Duration{
	0, 100 * time.Microsecond, 200 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	200 * time.Millisecond, 500 * time.Millisecond, time.Second,
}

// pbsState is the node's estimator: its random source and the answers of
// the last second by bucket.
type pbsState struct {
	// mu guards the fields below and serializes estimates, so at most one
	// runs on a node at a time.
	mu    sync.Mutex
	rng   *rand.Rand // created on first use
	cache map[string]pbsAnswer
}

type pbsAnswer struct {
	at  time.Time
	doc json.RawMessage
}

// PBS implements http.Backend: the /cluster/pbs document of bucket (""
// for the default properties), estimated from this coordinator's samples
// at most once a second per bucket.
func (n *Node) PBS(ctx context.Context, bucket string) (json.RawMessage, error) {
	s := &n.pbs
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if a, ok := s.cache[bucket]; ok && now.Sub(a.at) < pbsCacheFor {
		return a.doc, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err // waited too long for another estimate
	}
	if s.rng == nil {
		seed := n.cfg.Quorum.Seed // a seeded test replays its estimates
		if seed == 0 {
			seed = rand.Uint64()
		}
		s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	}
	doc, err := json.Marshal(n.estimatePBS(bucket, now, s.rng))
	if err != nil {
		return nil, err
	}
	if s.cache == nil || len(s.cache) >= pbsCacheMax {
		s.cache = make(map[string]pbsAnswer)
	}
	s.cache[bucket] = pbsAnswer{at: now, doc: doc}
	return doc, nil
}

// estimatePBS builds the document: the bucket's N, R and W (n at most
// the ring's members, quorums capped at n as quorum caps them), the
// sample counts, and a curve per R and W unless a kind has no samples.
func (n *Node) estimatePBS(bucket string, now time.Time, rng *rand.Rand) client.PBS {
	props := n.BucketProps(bucket)
	members := len(n.ring().Members())
	nn := max(min(props.NVal, members), 1)
	quorumOf := func(q quorum.Quorum) int {
		c, err := q.Resolve(props.NVal, quorum.Majority)
		if err != nil {
			c = nn
		}
		return max(min(c, nn), 1)
	}
	r, w := quorumOf(props.R), quorumOf(props.W)

	samples := n.coord.Latencies()
	snap := samples.Snapshot(now)
	doc := client.PBS{
		Node: n.cfg.Name, Bucket: bucket, N: nn, R: r, W: w,
		Samples: client.PBSSamples{
			WriteRequest: snap.Count(pbs.WriteRequest), WriteAck: snap.Count(pbs.WriteAck),
			ReadRequest: snap.Count(pbs.ReadRequest), ReadResponse: snap.Count(pbs.ReadResponse),
		},
		WindowSeconds: int(samples.Config().Window / time.Second),
		Curves:        []client.PBSCurve{},
	}
	spec := n.coord.SpeculativeDelay()
	chance := 0.0
	if props.ReadRepairChance != nil {
		chance = *props.ReadRepairChance
	}
	m := pbs.Model{N: nn, Coordinators: members, FullReads: chance, Speculative: spec}
	trials := max(min(pbsTrials, pbsBudget/(nn*nn)), 1)
	curves := pbs.Estimate(m, snap, pbsGrid, trials, rng)
	if curves == nil {
		return doc
	}
	doc.Trials = trials
	own := []client.PBSCurve{}
	for _, c := range curves {
		pc := client.PBSCurve{R: c.R, W: c.W, Strict: c.R+c.W > nn,
			ExpectedVersionsBehind: round(pbs.ExpectedVersionsBehind(nn, c.R, c.W))}
		for i, t := range pbsGrid {
			pc.Visibility = append(pc.Visibility, client.PBSPoint{TMS: float64(t) / float64(time.Millisecond), P: round(c.P[i])})
		}
		for k := 1; k <= pbsMaxK; k++ {
			pc.KStaleness = append(pc.KStaleness, client.PBSStaleness{K: k, P: round(pbs.KStaleness(nn, c.R, c.W, k))})
		}
		if c.R == r && c.W == w {
			own = append(own, pc)
		} else {
			doc.Curves = append(doc.Curves, pc)
		}
	}
	doc.Curves = append(own, doc.Curves...)
	return doc
}

// round keeps 4 decimals: the estimate is not more precise.
func round(p float64) float64 { return math.Round(p*1e4) / 1e4 }
