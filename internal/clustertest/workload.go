package clustertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/versioning"
)

// Workload describes a bounded client load.
type Workload struct {
	Bucket string // default "w"
	// Keys is how many distinct keys (k0..k{Keys-1}). Default 20.
	Keys int
	// Ops bounds the operations. Default 200.
	Ops int
	// Clients run concurrently. Default 4.
	Clients int
	// Nodes are the coordinators clients pick from (default: all running).
	Nodes []string
	// ReadFirst is the share of writes that read the key first and write
	// with its context (the rest are blind). Default 0.5.
	ReadFirst float64
	// Timeout per request. Default 1s.
	Timeout time.Duration
	// Seed for the clients' choices; default from the cluster's seed.
	Seed uint64
}

// Write is one attempted write of the history.
type Write struct {
	Key   string
	Value string
	// Acked: the coordinator answered success.
	Acked bool
	// Seen are the values the write's context covered (it supersedes them).
	Seen []string
}

// History records a workload's writes. Safe for concurrent use.
type History struct {
	Bucket string
	mu     sync.Mutex
	Writes []Write
	// failures say why requests failed (a failed read skips its write),
	// for a test's failure message.
	failures []string
}

func (h *History) fail(format string, args ...any) {
	h.mu.Lock()
	h.failures = append(h.failures, fmt.Sprintf(format, args...))
	h.mu.Unlock()
}

// Failures returns why requests failed, in the order they did.
func (h *History) Failures() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.failures)
}

func (h *History) add(w Write) {
	h.mu.Lock()
	h.Writes = append(h.Writes, w)
	h.mu.Unlock()
}

// Acked returns the acknowledged writes.
func (h *History) Acked() []Write {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Write
	for _, w := range h.Writes {
		if w.Acked {
			out = append(out, w)
		}
	}
	return out
}

// Keys returns the keys written.
func (h *History) Keys() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := map[string]bool{}
	for _, w := range h.Writes {
		set[w.Key] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// RunWorkload runs w against the running nodes and returns its history.
// Failed requests are expected under faults and only recorded.
func (c *Cluster) RunWorkload(ctx context.Context, w Workload) *History {
	if w.Bucket == "" {
		w.Bucket = "w"
	}
	if w.Keys == 0 {
		w.Keys = 20
	}
	if w.Ops == 0 {
		w.Ops = 200
	}
	if w.Clients == 0 {
		w.Clients = 4
	}
	if w.ReadFirst == 0 {
		w.ReadFirst = 0.5
	}
	if w.Timeout == 0 {
		w.Timeout = time.Second
	}
	if w.Seed == 0 {
		w.Seed = c.opts.Seed
	}
	h := &History{Bucket: w.Bucket}
	var wg sync.WaitGroup
	var seq sync.Mutex
	next := 0
	for cl := range w.Clients {
		rng := rand.New(rand.NewPCG(w.Seed, uint64(cl)))
		wg.Go(func() {
			for ctx.Err() == nil {
				seq.Lock()
				op := next
				next++
				seq.Unlock()
				if op >= w.Ops {
					return
				}
				c.oneWrite(ctx, w, h, rng, op)
			}
		})
	}
	wg.Wait()
	return h
}

func (c *Cluster) oneWrite(ctx context.Context, w Workload, h *History, rng *rand.Rand, op int) {
	nodes := w.Nodes
	if len(nodes) == 0 {
		nodes = c.running()
	}
	if len(nodes) == 0 {
		return
	}
	coord := c.Node(nodes[rng.IntN(len(nodes))])
	if coord == nil {
		return
	}
	key := fmt.Sprintf("k%d", rng.IntN(w.Keys))
	value := fmt.Sprintf("v%x.%d-%s", w.Seed, op, key)
	var vctx versioning.Context
	var seen []string
	rctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	if rng.Float64() < w.ReadFirst {
		obj, err := coord.Get(rctx, w.Bucket, key, quorum.ReadOptions{})
		switch {
		case err == nil:
			vctx = obj.Context
			for _, v := range versioning.Values(obj.Clock) {
				seen = append(seen, string(v.Data))
			}
		case errors.Is(err, quorum.ErrNotFound):
		default:
			h.fail("op %d: read of %s via %s: %v", op, key, coord.Name(), err)
			return // could not read: skip this write
		}
	}
	_, err := coord.Put(rctx, w.Bucket, key, vctx, versioning.Value{Data: []byte(value)}, quorum.WriteOptions{})
	if err != nil {
		h.fail("op %d: write of %s via %s: %v", op, key, coord.Name(), err)
	}
	h.add(Write{Key: key, Value: value, Acked: err == nil, Seen: seen})
}

// running returns the names of the running nodes.
func (c *Cluster) running() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, n := range c.names {
		if c.nodes[n] != nil && !c.isGone(n) {
			out = append(out, n)
		}
	}
	return out
}

// Merged returns the Sync of every node's local copy of a key.
func (c *Cluster) Merged(bucket, key string) versioning.Clock {
	var m versioning.Clock
	for _, n := range c.Names() {
		if cl, ok := c.LocalState(n, bucket, key); ok {
			m = versioning.Sync(m, cl)
		}
	}
	return m
}

// RequireNoLostWrites fails the test if an acknowledged write of any of the
// histories is neither a value of its key (merged over every node's local
// copy) nor superseded by a write of any of them (acknowledged or not: a
// failed write may still have landed) whose context covered it. Pass every
// history that wrote to the same keys.
func (c *Cluster) RequireNoLostWrites(hs ...*History) {
	c.t.Helper()
	superseded := map[string]bool{}
	for _, h := range hs {
		h.mu.Lock()
		for _, w := range h.Writes {
			for _, s := range w.Seen {
				superseded[s] = true
			}
		}
		h.mu.Unlock()
	}
	lost := 0
	for _, h := range hs {
		present := map[string]map[string]bool{}
		for _, w := range h.Acked() {
			if superseded[w.Value] {
				continue
			}
			vals, ok := present[w.Key]
			if !ok {
				vals = map[string]bool{}
				for _, v := range versioning.Values(c.Merged(h.Bucket, w.Key)) {
					vals[string(v.Data)] = true
				}
				present[w.Key] = vals
			}
			if !vals[w.Value] {
				lost++
				if lost <= 10 {
					c.t.Errorf("lost acknowledged write %s/%s=%s", h.Bucket, w.Key, w.Value)
				}
			}
		}
	}
	if lost > 0 {
		c.t.Fatalf("%d acknowledged writes lost", lost)
	}
}

// RequireConverged waits until every primary replica (of the bucket's
// newest n_val) of every key in keys holds the same state, and fails the test at ctx's end otherwise.
func (c *Cluster) RequireConverged(ctx context.Context, bucket string, keys []string) {
	c.t.Helper()
	r := c.Ring()
	nval := 3
	if c.opts.Defaults.NVal != 0 {
		nval = c.opts.Defaults.NVal
	}
	if n := c.props.nval(bucket); n != 0 {
		nval = n // the bucket's n_val as last set, on any node
	}
	var last string
	for {
		last = ""
		for _, k := range keys {
			if d := c.divergence(r.Preflist(r.Partition(hashOf(bucket, k)), nval), bucket, k); d != "" {
				last = d
				break
			}
		}
		if last == "" {
			return
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("replicas did not converge: %s", last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (c *Cluster) divergence(replicas []string, bucket, key string) string {
	var first versioning.Clock
	for i, n := range replicas {
		cl, ok := c.LocalState(n, bucket, key)
		if !ok {
			return fmt.Sprintf("%s/%s missing on %s", bucket, key, n)
		}
		if i == 0 {
			first = cl
		} else if !versioning.Equal(first, cl) {
			return fmt.Sprintf("%s/%s differs between %s and %s: %s vs %s", bucket, key, replicas[0], n, showClock(first), showClock(cl))
		}
	}
	return ""
}

// showClock describes a clock for a failure message: each entry's actor,
// counter and values (data and timestamp), then the anonymous values.
func showClock(c versioning.Clock) string {
	var b strings.Builder
	for _, e := range c.Entries {
		fmt.Fprintf(&b, "[%x:%d", uint64(e.Actor), e.Counter)
		for _, v := range e.Values {
			fmt.Fprintf(&b, " %q@%d", v.Data, v.LastModified)
		}
		b.WriteString("]")
	}
	for _, v := range c.Anon {
		fmt.Fprintf(&b, " anon %q@%d", v.Data, v.LastModified)
	}
	return b.String()
}
