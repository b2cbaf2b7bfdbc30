package gossip

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/dynamod/dynamod/internal/jitter"
)

// delegate receives memberlist's callbacks. memberlist calls them from its
// packet and stream handlers, the event ones with its node lock held, so
// each only takes g.mu for in-memory work, signals loops without blocking,
// and never calls back into memberlist.
type delegate struct {
	g *Gossip
}

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
)

// nodeMeta is this node's memberlist metadata: the state encoding version
// only. Addresses travel in the cluster state, which has no size limit,
// while node meta must stay under memberlist.MetaMaxSize (512 bytes).
var nodeMeta = []byte{stateVersion}

// NodeMeta returns nodeMeta.
func (d *delegate) NodeMeta(limit int) []byte {
	if limit < len(nodeMeta) {
		return nil
	}
	return slices.Clone(nodeMeta)
}

// NotifyMsg merges a state update broadcast (or sent reliably) by a peer.
// buf is only read during the call.
func (d *delegate) NotifyMsg(buf []byte) {
	if len(buf) == 0 {
		return
	}
	d.g.mergeRemote(buf, "broadcast", true)
}

// GetBroadcasts hands memberlist queued updates that fit limit.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.g.queue.GetBroadcasts(overhead, limit)
}

// LocalState returns the full cluster state for a push-pull or join.
func (d *delegate) LocalState(join bool) []byte {
	g := d.g
	g.mu.Lock()
	defer g.mu.Unlock()
	return encodeState(g.state.wire(g.cfg.Name))
}

// MergeRemoteState merges a peer's full state from a push-pull or join.
// What was news is passed on like a broadcast's news, except during the
// node's own start-up joins, when everything is news to it and nothing to
// the others. Otherwise, after a partition healed, a node whose memberlist
// heard of the other side from a third node never joins it itself (it is
// alive already) and would learn the entries written there only at its
// next periodic push-pull with that side: 15 s and more (a test saw 20 s).
func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	if len(buf) == 0 {
		return // a peer without a delegate
	}
	d.g.mu.Lock()
	starting := d.g.starting
	d.g.mu.Unlock()
	d.g.mergeRemote(buf, "pushpull", !starting)
}

// NotifyJoin records a node memberlist now sees alive.
func (d *delegate) NotifyJoin(n *memberlist.Node) { d.g.setLiveness(n, Alive) }

// NotifyUpdate records a node whose metadata or address changed.
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.g.setLiveness(n, Alive) }

// NotifyLeave records a node memberlist declared dead or that left.
func (d *delegate) NotifyLeave(n *memberlist.Node) { d.g.setLiveness(n, Dead) }

// setLiveness records memberlist's view of n, copying what it needs (n
// belongs to memberlist).
func (g *Gossip) setLiveness(n *memberlist.Node, l Liveness) {
	if n.Name == g.cfg.Name {
		return // self is always alive
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.peers[n.Name]
	if !ok {
		p = &peer{}
		g.peers[n.Name] = p
	}
	p.ip, p.port = slices.Clone(n.Addr), n.Port
	if ok && p.live == l {
		return
	}
	p.live = l
	alive := int32(1)
	for _, q := range g.peers {
		if q.live == Alive {
			alive++
		}
	}
	g.numAlive.Store(alive)
	g.log.Info("member "+l.String(), "peer", n.Name, "addr", n.Address())
	g.refreshGaugesLocked()
	g.signal(g.changes)
}

// broadcast is one queued state update. A newer update of the same entry
// replaces it in the queue.
type broadcast struct {
	key string // "m/NAME" or "b/BUCKET"
	msg []byte
}

var _ memberlist.NamedBroadcast = (*broadcast)(nil)

// Invalidates reports whether b supersedes o (same entry).
func (b *broadcast) Invalidates(o memberlist.Broadcast) bool {
	ob, ok := o.(*broadcast)
	return ok && ob.key == b.key
}

// Name returns the entry key, for the queue's fast invalidation.
func (b *broadcast) Name() string { return b.key }

// Message returns the encoded update.
func (b *broadcast) Message() []byte { return b.msg }

// Finished is a no-op: nobody waits for broadcasts.
func (b *broadcast) Finished() {}

// rejoinLoop re-joins, every jittered RejoinInterval, the known members that
// memberlist does not see alive. memberlist alone stops probing a member
// some time after declaring it dead, so two sides of a long partition would
// never merge again (memberlist#222); this loop merges them.
func (g *Gossip) rejoinLoop(rng *rand.Rand) {
	next := func() time.Duration { return jitter.Duration(g.cfg.RejoinInterval, 0.2, rng.Float64) }
	t := time.NewTimer(next())
	defer t.Stop()
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-t.C:
			g.rejoin()
			t.Reset(next())
		}
	}
}

// rejoin makes one round of re-join attempts.
func (g *Gossip) rejoin() {
	if g.left.Load() {
		return
	}
	targets := g.rejoinTargets()
	if len(targets) == 0 {
		return
	}
	answered, errs := g.joinAll(targets)
	g.metrics.rejoins.WithLabelValues("ok").Add(float64(len(answered)))
	g.metrics.rejoins.WithLabelValues("failed").Add(float64(len(errs)))
	if len(answered) > 0 {
		g.log.Info("rejoined members", "answered", answered, "tried", len(targets))
	} else {
		g.log.Debug("rejoin found nobody", "tried", len(targets), "err", errs[0])
	}
}

// rejoinTargets returns the gossip addresses of the members that are not
// removed and not alive: the address in the cluster state and, if it
// differs, the last one memberlist saw.
func (g *Gossip) rejoinTargets() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.self.Status.Gone() {
		return nil
	}
	var out []string
	for name, e := range g.state.members {
		if name == g.cfg.Name || e.Status.Gone() || g.livenessLocked(name) == Alive {
			continue
		}
		out = append(out, e.Gossip)
		if p, ok := g.peers[name]; ok && p.ip != nil {
			n := memberlist.Node{Addr: p.ip, Port: p.port}
			out = append(out, n.Address())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// persistLoop writes the state file after changes, coalescing bursts.
func (g *Gossip) persistLoop() {
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-g.dirty:
			if err := g.persist(); err != nil {
				g.log.Error("cannot persist cluster state", "path", g.cfg.StatePath, "err", err)
			}
		}
	}
}

// persist writes the current state to cfg.StatePath.
func (g *Gossip) persist() error {
	g.persistMu.Lock()
	defer g.persistMu.Unlock()
	g.mu.Lock()
	b := encodeState(g.state.wire(g.cfg.Name))
	g.mu.Unlock()
	err := writeFileAtomic(g.cfg.StatePath, b)
	g.metrics.persists.WithLabelValues(result(err)).Inc()
	return err
}

// sendLoop sends local writes too large for a broadcast, and local token
// and bucket changes, to every member memberlist sees alive, over TCP. Members it
// misses get them by push-pull.
func (g *Gossip) sendLoop() {
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-g.bigSend:
		}
		g.mu.Lock()
		delta := wireState{V: stateVersion, From: g.cfg.Name}
		for key := range g.bigPending {
			name := key[2:]
			switch key[0] {
			case 'm':
				if delta.Members == nil {
					delta.Members = map[string]memberEntry{}
				}
				delta.Members[name] = g.state.members[name]
			case 'b':
				if delta.Buckets == nil {
					delta.Buckets = map[string]bucketEntry{}
				}
				delta.Buckets[name] = g.state.buckets[name]
			case 't':
				if delta.Tokens == nil {
					delta.Tokens = map[string]tokenEntry{}
				}
				delta.Tokens[name] = g.state.tokens[name]
			}
		}
		clear(g.bigPending)
		var to []*memberlist.Node
		for name, p := range g.peers {
			if p.live == Alive {
				to = append(to, &memberlist.Node{Name: name, Addr: p.ip, Port: p.port})
			}
		}
		msg := encodeState(delta)
		g.mu.Unlock()
		for _, n := range to {
			if g.ctx.Err() != nil {
				return
			}
			err := g.ml.SendReliable(n, msg)
			g.metrics.reliableSends.WithLabelValues(result(err)).Inc()
			if err != nil {
				g.log.Warn("cannot send state update", "peer", n.Name, "err", err)
			}
		}
	}
}
