package pbs

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func constSnapshot(w, a, r, s time.Duration) Snapshot {
	return NewSnapshot([]time.Duration{w}, []time.Duration{a}, []time.Duration{r}, []time.Duration{s})
}

func curveOf(t *testing.T, cs []Curve, r, w int) []float64 {
	t.Helper()
	for _, c := range cs {
		if c.R == r && c.W == w {
			return c.P
		}
	}
	t.Fatalf("no curve for r=%d w=%d", r, w)
	return nil
}

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

// TestKStaleness against the closed forms worked by hand.
func TestKStaleness(t *testing.T) {
	cases := []struct {
		n, r, w, k int
		want       float64
	}{
		{3, 1, 1, 1, 1.0 / 3},                 // p_s = C(2,1)/C(3,1) = 2/3
		{3, 1, 1, 2, 1 - 4.0/9},               // 1 - (2/3)^2
		{3, 2, 2, 1, 1},                       // strict
		{3, 1, 3, 1, 1},                       // strict
		{5, 1, 2, 1, 1 - 3.0/5},               // C(3,1)/C(5,1)
		{5, 2, 2, 3, 1 - math.Pow(3.0/10, 3)}, // C(3,2)/C(5,2) = 3/10
		{3, 1, 1, 0, 0},
	}
	for _, tc := range cases {
		if got := KStaleness(tc.n, tc.r, tc.w, tc.k); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("KStaleness(%d,%d,%d,%d) = %v, want %v", tc.n, tc.r, tc.w, tc.k, got, tc.want)
		}
	}
	ev := []struct {
		n, r, w int
		want    float64
	}{{3, 1, 1, 2}, {3, 2, 2, 0}, {5, 1, 2, 1.5}, {5, 2, 2, 3.0 / 7}}
	for _, tc := range ev {
		if got := ExpectedVersionsBehind(tc.n, tc.r, tc.w); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("ExpectedVersionsBehind(%d,%d,%d) = %v, want %v", tc.n, tc.r, tc.w, got, tc.want)
		}
	}
}

// TestEstimate_constantSteps: with constant latencies the curve is a step
// function computed by hand.
func TestEstimate_constantSteps(t *testing.T) {
	// W = 10 ms, A = 1 ms, R = 2 ms, S = 1 ms.
	snap := constSnapshot(ms(10), ms(1), ms(2), ms(1))
	ts := []time.Duration{0, ms(5), ms(7.9), ms(8), ms(9.9), ms(10), ms(50)}
	rng := rand.New(rand.NewPCG(1, 2))
	const trials = 50000
	cases := []struct {
		name string
		m    Model
		r, w int
		want []float64
	}{
		// Every node a replica: the reader reads itself. It is the writer
		// with probability 1/3; otherwise its copy is applied at 10 ms.
		{"3 nodes r1 w1", Model{N: 3, Coordinators: 3}, 1, 1, []float64{1. / 3, 1. / 3, 1. / 3, 1. / 3, 1. / 3, 1, 1}},
		// W=2 commits at 11 ms, after every remote copy is applied.
		{"3 nodes r1 w2", Model{N: 3, Coordinators: 3}, 1, 2, []float64{1, 1, 1, 1, 1, 1, 1}},
		// 6 nodes: the writer is replica 0 with probability 1/2+1/6, 1 or
		// 2 with 1/6 each. A reader off the replicas (1/2) asks replica 0,
		// whose read comes 2 ms in: fresh if it wrote, else from t = 8 ms.
		// A reader on replica j (1/6 each) is fresh if it wrote, else from
		// t = 10 ms. So 1/2 before 8 ms, 2/3 before 10 ms, then 1.
		{"6 nodes r1 w1", Model{N: 3, Coordinators: 6}, 1, 1, []float64{.5, .5, .5, 2. / 3, 2. / 3, 1, 1}},
		// Speculation after 1 ms: a read of a remote replica (answer at
		// 3 ms) asks the others at 1 ms, whose answers come at 4 ms: the
		// first answer is still the first asked, so nothing changes.
		{"6 nodes r1 w1 speculative", Model{N: 3, Coordinators: 6, Speculative: ms(1)}, 1, 1, []float64{.5, .5, .5, 2. / 3, 2. / 3, 1, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := curveOf(t, Estimate(tc.m, snap, ts, trials, rng), tc.r, tc.w)
			for i := range ts {
				if math.Abs(got[i]-tc.want[i]) > 0.01 {
					t.Errorf("t=%v: p=%.4f, want %.4f", ts[i], got[i], tc.want[i])
				}
			}
		})
	}
}

// TestEstimate_strictIsOne: R+W > N gives exactly 1 at every t, and every
// curve reaches 1 for a t past every latency.
func TestEstimate_strictIsOne(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	snap := expSnapshot(rng, 5000, 20, 1, 2, 1)
	ts := []time.Duration{0, ms(1), ms(10), time.Hour}
	for _, m := range []Model{{N: 3, Coordinators: 3}, {N: 5, Coordinators: 8, FullReads: 0.3, Speculative: ms(5)}, {N: 1}} {
		cs := Estimate(m, snap, ts, 2000, rng)
		if len(cs) != m.N*m.N {
			t.Fatalf("%+v: %d curves, want %d", m, len(cs), m.N*m.N)
		}
		for _, c := range cs {
			for i, p := range c.P {
				if (c.R+c.W > m.N || ts[i] == time.Hour) && p != 1 {
					t.Errorf("%+v r=%d w=%d t=%v: p=%v, want 1", m, c.R, c.W, ts[i], p)
				}
				if i > 0 && p < c.P[i-1] {
					t.Errorf("%+v r=%d w=%d: p falls from %v to %v at t=%v", m, c.R, c.W, c.P[i-1], p, ts[i])
				}
			}
		}
	}
}

// TestEstimate_noSamples: no curves without samples of every kind, except
// for N = 1, which needs none.
func TestEstimate_noSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ts := []time.Duration{0}
	partial := NewSnapshot([]time.Duration{1}, []time.Duration{1}, []time.Duration{1}, nil)
	if cs := Estimate(Model{N: 3}, partial, ts, 100, rng); cs != nil {
		t.Errorf("curves without read-response samples: %+v", cs)
	}
	if cs := Estimate(Model{N: 3}, constSnapshot(1, 1, 1, 1), ts, 0, rng); cs != nil {
		t.Errorf("curves of 0 trials: %+v", cs)
	}
	if cs := Estimate(Model{N: 1}, Snapshot{}, ts, 10, rng); len(cs) != 1 || cs[0].P[0] != 1 {
		t.Errorf("N=1: %+v, want one curve of 1", cs)
	}
}

// expSnapshot draws n samples of each kind from exponential distributions
// with the given means in ms.
func expSnapshot(rng *rand.Rand, n int, w, a, r, s float64) Snapshot {
	draw := func(mean float64) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = ms(rng.ExpFloat64() * mean)
		}
		return out
	}
	return NewSnapshot(draw(w), draw(a), draw(r), draw(s))
}

// TestEstimate_matchesEventSimulation: with exponential latencies the
// estimate agrees, within 3.5 points, with a direct event simulation of
// the same model that draws from the distributions themselves.
func TestEstimate_matchesEventSimulation(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	means := latencies{w: 10, a: 2, r: 3, s: 1} // ms
	snap := expSnapshot(rng, 20000, means.w, means.a, means.r, means.s)
	ts := []time.Duration{0, ms(1), ms(3), ms(10), ms(30)}
	for _, m := range []Model{
		{N: 3, Coordinators: 3},
		{N: 3, Coordinators: 5, FullReads: 0.1, Speculative: ms(4)},
		{N: 5, Coordinators: 5, FullReads: 0.5},
		{N: 4, Coordinators: 10, Speculative: ms(2)},
	} {
		est := Estimate(m, snap, ts, 20000, rng)
		for _, rw := range [][2]int{{1, 1}, {1, 2}, {2, 1}, {2, 2}} {
			got := curveOf(t, est, rw[0], rw[1])
			for i, tt := range ts {
				want := simulate(rng, m, means, rw[0], rw[1], tt, 6000)
				if math.Abs(got[i]-want) > 0.035 {
					t.Errorf("%+v r=%d w=%d t=%v: estimate %.4f, simulation %.4f", m, rw[0], rw[1], tt, got[i], want)
				}
			}
		}
	}
}

// latencies are the means of exponential distributions, ms.
type latencies struct{ w, a, r, s float64 }

// An event of the direct simulation.
type event struct {
	at      float64 // ms from the write's start
	seq     int     // ties: earlier scheduled first
	what    string  // "apply", "ack", "arrive", "answer", "speculate"
	replica int
}

type events []event

func (e events) Len() int { return len(e) }
func (e events) Less(i, j int) bool {
	if e[i].at != e[j].at {
		return e[i].at < e[j].at
	}
	return e[i].seq < e[j].seq
}
func (e events) Swap(i, j int) { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)   { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

// simulate runs the model as discrete events, one message at a time, and
// returns the share of consistent reads started t after the write's ack.
func simulate(rng *rand.Rand, m Model, l latencies, r, w int, t time.Duration, trials int) float64 {
	n := m.N
	exp := func(mean float64) float64 { return rng.ExpFloat64() * mean }
	consistent := 0
	for range trials {
		coords := max(m.Coordinators, n)
		writer := rng.IntN(coords)
		if writer >= n {
			writer = 0
		}
		reader := rng.IntN(coords)
		full := m.FullReads > 0 && rng.Float64() < m.FullReads

		var q events
		seq := 0
		push := func(at float64, what string, j int) {
			seq++
			heap.Push(&q, event{at: at, seq: seq, what: what, replica: j})
		}
		applied := make([]bool, n)
		applied[writer] = true
		acks := 1
		commit := 0.0
		for j := range n {
			if j != writer {
				wj := exp(l.w)
				push(wj, "apply", j)
				push(wj+exp(l.a), "ack", j)
			}
		}
		// The write: until W acks.
		for acks < w {
			ev := heap.Pop(&q).(event)
			switch ev.what {
			case "apply":
				applied[ev.replica] = true
			case "ack":
				acks++
				commit = ev.at
			}
		}
		start := commit + float64(t)/float64(time.Millisecond)
		// The read, in the same timeline: later applies still happen.
		var order []int
		if reader < n {
			order = append(order, reader)
		}
		for j := range n {
			if j != reader {
				order = append(order, j)
			}
		}
		asked := 0
		ask := func(k int, at float64) {
			for ; k > 0 && asked < n; k-- {
				j := order[asked]
				asked++
				if j == reader {
					push(at, "arrive-local", j)
				} else {
					push(at+exp(l.r), "arrive", j)
				}
			}
		}
		pushAsk := func() {
			if full {
				ask(n, start)
			} else {
				ask(r, start)
			}
		}
		pushAsk()
		if m.Speculative > 0 && asked < n {
			push(start+float64(m.Speculative)/float64(time.Millisecond), "speculate", -1)
		}
		answers, fresh := 0, false
		fresher := make([]bool, n)
		for answers < r {
			ev := heap.Pop(&q).(event)
			switch ev.what {
			case "apply":
				applied[ev.replica] = true
			case "arrive":
				fresher[ev.replica] = applied[ev.replica]
				push(ev.at+exp(l.s), "answer", ev.replica)
			case "arrive-local":
				fresher[ev.replica] = applied[ev.replica]
				push(ev.at, "answer", ev.replica)
			case "answer":
				answers++
				fresh = fresh || fresher[ev.replica]
			case "speculate":
				ask(n, ev.at)
			}
		}
		if fresh {
			consistent++
		}
	}
	return float64(consistent) / float64(trials)
}

// BenchmarkEstimate is the cost of one /cluster/pbs answer of a bucket:
// go test -run '^$' -bench Estimate ./pbs/
func BenchmarkEstimate(b *testing.B) {
	ts := []time.Duration{0, ms(.1), ms(.2), ms(.5), ms(1), ms(2), ms(5), ms(10), ms(20), ms(50), ms(100), ms(200), ms(500), ms(1000)}
	for _, n := range []int{3, 5, 16} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			snap := expSnapshot(rng, 2048, 1, .2, .3, .1)
			b.ReportAllocs()
			for b.Loop() {
				Estimate(Model{N: n, Coordinators: n, FullReads: .1, Speculative: ms(50)}, snap, ts, 10000, rng)
			}
		})
	}
}
