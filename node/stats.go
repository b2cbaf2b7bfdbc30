package node

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynamod/dynamod/client"
	"github.com/dynamod/dynamod/internal/rates"
)

// The /cluster/stats window: one sample a second, five minutes.
const (
	statsStep   = time.Second
	statsWindow = 300
)

// The operations /cluster/stats breaks requests into.
const (
	opGet = iota
	opPut
	opDelete
	opList
	opOther
	numOps
)

var opNames = [numOps]string{"get", "put", "delete", "list", "other"}

// statsCounters are the node's Prometheus counters /cluster/stats shows the
// per-step increase of, by the name it gives them (each sums every label
// set of its family).
var statsCounters = []struct{ name, family string }{
	{"quorum_failures", "dynamod_quorum_failures_total"},
	{"read_repairs", "dynamod_quorum_read_repairs_total"},
	{"hints_stored", "dynamod_quorum_hints_stored_total"},
	{"hints_delivered", "dynamod_quorum_hints_delivered_total"},
	{"ae_keys_repaired", "dynamod_antientropy_keys_repaired_total"},
}

// opOf maps a client API route and method to its operation.
func opOf(route, method string) int {
	switch route {
	case "kv_object":
		switch method {
		case "GET", "HEAD":
			return opGet
		case "PUT":
			return opPut
		case "DELETE":
			return opDelete
		}
	case "kv_bucket":
		switch method {
		case "GET":
			return opList
		case "POST":
			return opPut
		}
	}
	return opOther
}

// stats records the client requests a node answers and samples them, with
// the node's counters, once a step (/cluster/stats).
type stats struct {
	// ops are cumulative, written by every request.
	ops [numOps]struct {
		lat    rates.Hist
		errors atomic.Uint64
	}

	mu     sync.Mutex // guards the rest
	window *rates.Window[statsSample]
	// prev is the last sample's cumulative values, the base of the next
	// one's increases: zero (the node's start) before the first.
	prev struct {
		lat      [numOps]rates.Counts
		errors   [numOps]uint64
		counters []float64
	}
}

// statsSample is one step.
type statsSample struct {
	at  time.Time
	ops [numOps]struct {
		count, errors uint64
		p50, p99      time.Duration
	}
	counters     []uint64
	hintsPending float64
}

func newStats() *stats {
	return &stats{window: rates.NewWindow[statsSample](statsWindow)}
}

// ObserveRequest records one answered client request (http.Config.Observe).
func (n *Node) ObserveRequest(route, method string, status int, elapsed time.Duration) {
	o := &n.stats.ops[opOf(route, method)]
	o.lat.Observe(elapsed)
	if status >= 500 {
		o.errors.Add(1)
	}
}

// sampleStats takes one sample a step until ctx ends.
func (n *Node) sampleStats(ctx context.Context) {
	t := time.NewTicker(statsStep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n.stats.sample(now, n.counterValues(), float64(n.store.HintCount()))
		}
	}
}

// counterValues reads the statsCounters from the node's registry.
func (n *Node) counterValues() []float64 {
	vals := make([]float64, len(statsCounters))
	fams, _ := n.reg.Gather() // what could be gathered
	for _, f := range fams {
		for i, c := range statsCounters {
			if f.GetName() != c.family {
				continue
			}
			for _, m := range f.GetMetric() {
				vals[i] += m.GetCounter().GetValue()
			}
		}
	}
	return vals
}

// sample records the step ending at now: the requests since the last
// sample and the increase of the counters (cumulative values, in
// statsCounters' order). The first sample counts from zero: the node's
// registry is its own, so its counters start with it.
func (s *stats) sample(now time.Time, counters []float64, hintsPending float64) {
	var lat [numOps]rates.Counts
	var errs [numOps]uint64
	for i := range s.ops {
		s.ops[i].lat.Load(&lat[i])
		errs[i] = s.ops[i].errors.Load()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	smp := statsSample{at: now, hintsPending: hintsPending, counters: make([]uint64, len(counters))}
	for i := range lat {
		d := lat[i].Sub(&s.prev.lat[i])
		o := &smp.ops[i]
		o.count = d.Total()
		o.errors = errs[i] - s.prev.errors[i]
		o.p50, o.p99 = d.Quantile(0.5), d.Quantile(0.99)
	}
	for i, v := range counters {
		base := 0.0
		if i < len(s.prev.counters) {
			base = s.prev.counters[i]
		}
		if v > base {
			smp.counters[i] = uint64(v - base)
		}
	}
	s.window.Push(smp)
	s.prev.lat, s.prev.errors, s.prev.counters = lat, errs, counters
}

// doc builds the /cluster/stats document of the window.
func (s *stats) doc(name string) *client.Stats {
	s.mu.Lock()
	samples := s.window.All()
	s.mu.Unlock()
	doc := &client.Stats{
		Node: name, StepSeconds: statsStep.Seconds(),
		Ops:      make(map[string]client.OpSeries, numOps),
		Counters: make(map[string][]uint64, len(statsCounters)),
		Gauges:   map[string][]float64{"hints_pending": make([]float64, len(samples))},
	}
	if len(samples) > 0 {
		doc.End = samples[len(samples)-1].at.UTC()
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for op, name := range opNames {
		o := client.OpSeries{
			Count: make([]uint64, len(samples)), Errors: make([]uint64, len(samples)),
			P50: make([]float64, len(samples)), P99: make([]float64, len(samples)),
		}
		for i, smp := range samples {
			so := smp.ops[op]
			o.Count[i], o.Errors[i], o.P50[i], o.P99[i] = so.count, so.errors, ms(so.p50), ms(so.p99)
		}
		doc.Ops[name] = o
	}
	for c, sc := range statsCounters {
		series := make([]uint64, len(samples))
		for i, smp := range samples {
			series[i] = smp.counters[c]
		}
		doc.Counters[sc.name] = series
	}
	for i, smp := range samples {
		doc.Gauges["hints_pending"][i] = smp.hintsPending
	}
	return doc
}

// Stats implements http.Backend: the /cluster/stats document, a
// client.Stats.
func (n *Node) Stats(context.Context) (json.RawMessage, error) {
	return json.Marshal(n.stats.doc(n.cfg.Name))
}
