package gossip

import (
	"context"
	"time"

	"github.com/dynamod/dynamod/internal/lifetime"
)

// Admission of new members. Gossip proves only that a sender holds the
// gossip key; with Config.VerifyMember set (node-to-node TLS on), a member
// this node has not seen, or a member at a new node-to-node address, is
// held back until VerifyMember has proved that the node listening at that
// address holds a certificate for that name. A node without the cluster's
// certificate can then talk gossip, but never enters anyone's rings: it
// is sent no replica, asked for no read and owns no partition.
//
// Held entries are applied as soon as their verification succeeds; a
// failed one is tried again every verifyRetryInterval, up to
// maxVerifyAttempts times, and after that when the entry arrives again
// (gossip repeats itself: push-pull every few seconds).

// Bounds of admission.
const (
	// maxHeld bounds the entries held back; past it new ones are dropped
	// (and come back with the next push-pull).
	maxHeld = 1024
	// maxVerifying bounds the verifications in flight.
	maxVerifying = 16
	// verifyTimeout bounds one verification.
	verifyTimeout = 5 * time.Second
	// verifyRetryInterval spaces the verifications of one name and
	// address.
	verifyRetryInterval = 2 * time.Second
)

// rejectUnverified: a new member (or a member's new address) this node
// could not yet verify; held back until it is.
const rejectUnverified rejectReason = "unverified"

// admission is the state of member verification. Its fields are guarded
// by Gossip.mu, except bg.
type admission struct {
	// verified holds the (name, rpc address) pairs proved.
	verified map[string]bool
	// held is the newest held entry per member name.
	held map[string]memberEntry
	// tried is when a pair was last tried; inFlight the pairs being
	// tried.
	tried    map[string]time.Time
	inFlight map[string]bool
	// bg runs the verifications; stopVerify stops and waits for it.
	bg lifetime.Group
}

func pairKey(name, rpc string) string { return name + "\x00" + rpc }

// holdUnverifiedLocked removes from w the member entries that need a
// verification this node has not made, holds them, and starts their
// verification. g.mu must be held.
func (g *Gossip) holdUnverifiedLocked(w *wireState) {
	if g.cfg.VerifyMember == nil {
		return
	}
	a := &g.admit
	for name, e := range w.Members {
		if name == g.cfg.Name || e.Status.Gone() {
			continue // no traffic goes to a gone member
		}
		cur, known := g.state.members[name]
		if known && cur.RPC == e.RPC {
			continue // the same node at the same address: nothing new
		}
		if compareMember(cur, e) >= 0 && known {
			continue // merging it changes nothing
		}
		key := pairKey(name, e.RPC)
		if a.verified[key] {
			continue
		}
		delete(w.Members, name)
		g.metrics.rejectedEntries.WithLabelValues(string(rejectUnverified)).Inc()
		if h, ok := a.held[name]; (ok && compareMember(h, e) < 0) || (!ok && len(a.held) < maxHeld) {
			a.held[name] = e
		}
		g.startVerifyLocked(name, e.RPC)
	}
}

// startVerifyLocked starts verifying (name, rpc) unless it is being
// verified, was tried too recently, or too many are in flight. g.mu must
// be held.
func (g *Gossip) startVerifyLocked(name, rpc string) {
	a := &g.admit
	key := pairKey(name, rpc)
	if a.inFlight[key] || len(a.inFlight) >= maxVerifying || time.Since(a.tried[key]) < verifyRetryInterval {
		return
	}
	// The verification takes g.mu before it touches a's maps, so they
	// may be set after it has started (and only if it has).
	if !a.bg.Go(func() { g.verifyLoop(name, rpc) }) {
		return // stopping
	}
	a.inFlight[key] = true
	a.tried[key] = time.Now()
	if len(a.tried) > 4*maxHeld { // forget old attempts
		for k, at := range a.tried {
			if time.Since(at) > verifyRetryInterval {
				delete(a.tried, k)
			}
		}
	}
}

// verifyLoop verifies (name, rpc), trying again while [Gossip.verified]
// says to.
func (g *Gossip) verifyLoop(name, rpc string) {
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(g.ctx, verifyTimeout)
		err := g.cfg.VerifyMember(ctx, name, rpc)
		cancel()
		if !g.verified(name, rpc, err, attempt) {
			return
		}
		select {
		case <-g.ctx.Done():
			g.verified(name, rpc, g.ctx.Err(), maxVerifyAttempts)
			return
		case <-time.After(verifyRetryInterval):
		}
	}
}

// maxVerifyAttempts bounds the attempts at verifying one held entry
// before waiting for it to arrive again: a member that is still starting,
// or a moment of packet loss, does not wait for the next push-pull.
const maxVerifyAttempts = 15

// verified records the outcome of a verification's attempt and, on
// success, applies the entry held for that member if it is for that
// address. It reports whether to try again: the attempt failed, the entry
// is still held for that address, and attempts remain.
func (g *Gossip) verified(name, rpc string, err error, attempt int) (again bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a := &g.admit
	key := pairKey(name, rpc)
	if err != nil {
		h, held := a.held[name]
		if held && h.RPC == rpc && !a.bg.Stopped() && attempt < maxVerifyAttempts {
			if attempt == 1 {
				g.log.Warn("a member's node-to-node identity could not be verified; it is not admitted until it is", "member", name, "rpc", rpc, "err", err)
			}
			return true
		}
		delete(a.inFlight, key)
		return false
	}
	delete(a.inFlight, key)
	g.log.Info("verified a new member's node-to-node identity", "member", name, "rpc", rpc)
	if len(a.verified) >= maxHeld*4 {
		clear(a.verified) // bounded; verified pairs are in the state by now
	}
	a.verified[key] = true
	e, ok := a.held[name]
	if !ok || e.RPC != rpc || g.isClosed() {
		return false
	}
	delete(a.held, name)
	w := wireState{Members: map[string]memberEntry{name: e}}
	g.admitLocked(&w, "verified")
	news := g.state.merge(w)
	if len(news.Members) == 0 {
		return false
	}
	g.publishLocked(news, false)
	g.changedLocked()
	g.refuteLocked()
	return false
}

// stopVerify waits for the verifications in flight; none starts after.
func (g *Gossip) stopVerify() {
	g.admit.bg.Close()
}

// awaitVerifications waits until no verification is in flight, or for at
// most d.
func (g *Gossip) awaitVerifications(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && !g.isClosed() {
		g.mu.Lock()
		n := len(g.admit.inFlight)
		g.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
