package clustertest

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/dynamod/dynamod/quorum"
)

// propsTable is the cluster's bucket properties as gossip would spread
// them: the node that sets a bucket's properties has them at once, every
// other node after its own delay (drawn from the cluster's seed, at most
// Options.PropsDelay), and a held node not until it is released. Each
// change carries a version, so a late delivery never overwrites a newer
// one (gossip's per-entry versions do the same).
type propsTable struct {
	c        *Cluster
	maxDelay time.Duration

	mu  sync.Mutex
	rng *rand.Rand
	ver uint64
	// truth is the newest entry of every bucket (raw nil: reset); nodes the
	// entries each node has received.
	truth  map[string]propsEntry
	nodes  map[string]map[string]propsEntry
	held   map[string]bool
	timers map[*time.Timer]struct{}
	closed bool
}

type propsEntry struct {
	raw []byte // nil: reset to the defaults
	ver uint64
}

func newPropsTable(c *Cluster, seed uint64, maxDelay time.Duration) *propsTable {
	return &propsTable{
		c: c, maxDelay: maxDelay, rng: rand.New(rand.NewPCG(seed, hashOf("props", ""))),
		truth: map[string]propsEntry{}, nodes: map[string]map[string]propsEntry{},
		held: map[string]bool{}, timers: map[*time.Timer]struct{}{},
	}
}

// join gives a starting node every current entry (a joining member's first
// push-pull), unless it is held and has a table already.
func (p *propsTable) join(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.nodes[name]; ok && p.held[name] {
		return
	}
	m := make(map[string]propsEntry, len(p.truth))
	if !p.held[name] {
		for b, e := range p.truth {
			m[b] = e
		}
	}
	p.nodes[name] = m
}

// get returns the entries name has received.
func (p *propsTable) get(name string) map[string][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string][]byte{}
	for b, e := range p.nodes[name] {
		if e.raw != nil {
			out[b] = e.raw
		}
	}
	return out
}

// set records a change made through node from, and sends it to the others.
func (p *propsTable) set(from, bucket string, raw []byte) {
	p.mu.Lock()
	p.ver++
	e := propsEntry{raw: slices.Clone(raw), ver: p.ver}
	p.truth[bucket] = e
	p.applyLocked(from, bucket, e)
	var now []string
	for name := range p.nodes {
		if name == from || p.held[name] {
			continue
		}
		if p.maxDelay <= 0 {
			p.applyLocked(name, bucket, e)
			now = append(now, name)
			continue
		}
		var tm *time.Timer
		tm = time.AfterFunc(time.Duration(p.rng.Int64N(int64(p.maxDelay)+1)), func() {
			p.mu.Lock()
			delete(p.timers, tm)
			ok := !p.closed && !p.held[name] && p.applyLocked(name, bucket, e)
			p.mu.Unlock()
			if ok {
				p.c.notifyNode(name)
			}
		})
		p.timers[tm] = struct{}{}
	}
	p.mu.Unlock()
	for _, name := range append(now, from) {
		p.c.notifyNode(name)
	}
}

// applyLocked gives name entry e of bucket unless it has a newer one, and
// reports whether it changed anything. p.mu is held.
func (p *propsTable) applyLocked(name, bucket string, e propsEntry) bool {
	m := p.nodes[name]
	if m == nil || m[bucket].ver >= e.ver {
		return false
	}
	m[bucket] = e
	return true
}

// hold stops deliveries to the named nodes; release catches them up with
// every newest entry at once.
func (p *propsTable) hold(names []string, held bool) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var changed []string
	for _, name := range names {
		p.held[name] = held
		if held {
			continue
		}
		for b, e := range p.truth {
			if p.applyLocked(name, b, e) {
				changed = append(changed, name)
			}
		}
	}
	return changed
}

// nval returns a bucket's n_val as set cluster-wide, 0 if not set.
func (p *propsTable) nval(bucket string) int {
	p.mu.Lock()
	raw := p.truth[bucket].raw
	p.mu.Unlock()
	var props quorum.Props
	if raw == nil || json.Unmarshal(raw, &props) != nil {
		return 0
	}
	return props.NVal
}

// close stops every pending delivery.
func (p *propsTable) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for tm := range p.timers {
		tm.Stop()
	}
	clear(p.timers)
}

// HoldProps stops bucket property changes from reaching the named nodes
// (as if gossip could not reach them while the rest of the cluster can):
// they keep what they have until ReleaseProps. Changes made through a held
// node still reach it, and the others.
func (c *Cluster) HoldProps(names ...string) { c.props.hold(names, true) }

// ReleaseProps ends HoldProps for the named nodes: each receives every
// change it missed at once.
func (c *Cluster) ReleaseProps(names ...string) {
	for _, name := range c.props.hold(names, false) {
		c.notifyNode(name)
	}
}

// notifyNode tells one node's membership view that something changed.
func (c *Cluster) notifyNode(name string) {
	c.mu.Lock()
	v := c.views[name]
	c.mu.Unlock()
	if v != nil {
		v.notify()
	}
}
