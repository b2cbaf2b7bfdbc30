package antientropy

import (
	"context"
	"errors"
	"time"

	"github.com/dynamod/dynamod/internal/jitter"
)

// Work bounds of one round of the run loop.
const (
	suspectsPerRound = 64
	reapsPerRound    = 4
)

// runState is the run loop's own cursors; only Run touches them.
type runState struct {
	peer, rebuild, reap int
}

// Run builds the trees not built yet, then runs a round every Interval
// (jittered ±20%, the first one after a random fraction of it, so nodes
// started together do not exchange in step) until ctx ends. A round:
//
//   - finishes the build if a store error interrupted it;
//   - rescans up to 64 segments found drifted by earlier exchanges;
//   - rebuilds at most one partition whose scheduled rebuild is due;
//   - exchanges with the next live co-replica, round-robin (ExchangePeer);
//   - reaps tombstones in up to 4 partitions this node is the first
//     primary of and that hold tombstones (ReapPartition).
//
// Failures are logged and retried in later rounds. The node starts it in
// its own goroutine and cancels ctx to stop it; Run returns once the round
// in progress has ended.
func (a *AntiEntropy) Run(ctx context.Context) {
	rs := &runState{peer: int(a.int64N(1 << 16)), rebuild: int(a.int64N(int64(len(a.trees)))), reap: int(a.int64N(int64(len(a.trees))))}
	if err := a.Build(ctx); err != nil && ctx.Err() == nil {
		a.log.Warn("build failed, will retry", "err", err)
	}
	t := time.NewTimer(time.Duration(a.int64N(int64(a.cfg.Interval))) + 1)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.round(ctx, rs)
			t.Reset(jitter.Duration(a.cfg.Interval, 0.2, a.float64))
		}
	}
}

func (a *AntiEntropy) round(ctx context.Context, rs *runState) {
	if int(a.built.Load()) < len(a.trees) {
		if err := a.Build(ctx); err != nil {
			if ctx.Err() == nil {
				a.log.Warn("build failed, will retry", "err", err)
			}
			return
		}
	}
	if err := a.repairSuspects(ctx, suspectsPerRound); err != nil && ctx.Err() == nil {
		a.log.Warn("segment rescan failed", "err", err)
	}
	a.rebuildDue(ctx, rs)
	if peer := a.pickPeer(rs); peer != "" {
		st, err := a.ExchangePeer(ctx, peer)
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Warn("exchange failed", "peer", peer, "err", err)
		case err == nil:
			a.log.Debug("exchange", "peer", peer, "partitions", st.Partitions,
				"differing", st.DifferingPartitions, "keys", st.Keys, "pushed", st.Pushed,
				"pulled", st.Pulled, "bytes_sent", st.BytesSent, "elapsed", st.Duration)
		}
	}
	a.reapSome(ctx, rs)
}

// pickPeer returns the next live member, round-robin, or "" if none.
func (a *AntiEntropy) pickPeer(rs *runState) string {
	ms := a.members.Ring().Members()
	for i := range ms {
		m := ms[(rs.peer+i)%len(ms)]
		if m != a.cfg.Self && a.members.Alive(m) {
			rs.peer += i + 1
			return m
		}
	}
	return ""
}

// rebuildDue rebuilds the first partition, from the cursor on, whose
// scheduled rebuild is due.
func (a *AntiEntropy) rebuildDue(ctx context.Context, rs *runState) {
	now := a.cfg.Now()
	for i := range a.trees {
		p := (rs.rebuild + i) % len(a.trees)
		t := &a.trees[p]
		t.mu.Lock()
		due := t.built && !now.Before(t.next)
		t.mu.Unlock()
		if !due {
			continue
		}
		rs.rebuild = p + 1
		if err := a.rebuild(ctx, p, 0, a.geo.segments()-1, true); err != nil && ctx.Err() == nil {
			a.log.Warn("rebuild failed", "partition", p, "err", err)
		}
		return
	}
}

// reapSome runs ReapPartition on up to reapsPerRound partitions, from the
// cursor on, that hold tombstones and whose first primary is this node.
func (a *AntiEntropy) reapSome(ctx context.Context, rs *runState) {
	r := a.members.Ring()
	if r.Partitions() != len(a.trees) {
		return
	}
	done := 0
	for i := 0; i < len(a.trees) && done < reapsPerRound; i++ {
		p := (rs.reap + i) % len(a.trees)
		pl := r.Preflist(p, a.cfg.NVal)
		if len(pl) == 0 || pl[0] != a.cfg.Self {
			continue
		}
		t := &a.trees[p]
		t.mu.Lock()
		has := t.built && t.tombs > 0
		t.mu.Unlock()
		if !has {
			continue
		}
		rs.reap = p + 1
		done++
		st, err := a.ReapPartition(ctx, p)
		switch {
		case err != nil && ctx.Err() == nil && !errors.Is(err, ErrNotPrimary):
			a.log.Warn("reaping failed", "partition", p, "err", err)
		case st.Reaped > 0 || st.Reason != "":
			a.log.Debug("reaped", "partition", p, "reaped", st.Reaped, "blocked", st.Blocked, "reason", st.Reason)
		}
	}
}
