package antientropy

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// Reaping limits: candidates gathered per pass over a partition (the rest
// wait for the next pass) and keys per digest/reap message.
const (
	maxReapPerPass = 4096
	reapBatch      = 256
)

// ReapStats describes one reaping pass over a partition.
type ReapStats struct {
	// Candidates are the local tombstones whose grace has passed.
	Candidates int `json:"candidates"`
	// Reaped were deleted here (and on every other node holding them).
	Reaped int `json:"reaped"`
	// Blocked candidates were not reaped because a replica holds another
	// state (or, for a primary, none).
	Blocked int `json:"blocked"`
	// Reason says why the pass reaped nothing at all, e.g. a member down.
	Reason string `json:"reason,omitempty"`
}

type candidate struct {
	k storage.Key
	d uint64 // digest of the tombstone
}

type remoteState struct {
	present bool
	d       uint64
}

// ReapPartition physically deletes the tombstones of partition p whose
// grace has passed and that every replica is known to hold identically.
// An object whose values are all deleted or expired counts as a tombstone
// (quorum's expiry): a value written with a TTL and never read again
// leaves this way. This node must be a primary of p (the run loop uses
// the first one). The rule, for each tombstone t with digest d:
//
//   - TombstoneGrace has passed since the newest LastModified of t's
//     values, and since the latest expiry among them;
//   - every member of the ring is alive and answers (the walk of p covers
//     every member: fallbacks too may hold a copy);
//   - each of p's primaries (the first NVal of its walk) holds exactly d;
//   - every other member holds d or nothing.
//
// Then the key is reaped (Local.ReapLocal with d, so a write that raced
// the check wins) on every other member holding it and then here. Any
// failure to reach a member stops the pass before anything of the current
// batch is reaped here. See the package doc for why this never resurrects.
func (a *AntiEntropy) ReapPartition(ctx context.Context, p int) (ReapStats, error) {
	var st ReapStats
	r := a.members.Ring()
	if p < 0 || p >= len(a.trees) || r.Partitions() != len(a.trees) {
		return st, fmt.Errorf("antientropy: reap: partition %d out of range", p)
	}
	prim := r.Preflist(p, a.cfg.NVal)
	if !slices.Contains(prim, a.cfg.Self) {
		return st, fmt.Errorf("%w: reap partition %d", ErrNotPrimary, p)
	}
	if s, ok := a.members.(Steadier); ok && !s.Steady() {
		st.Reason = "membership change in progress"
		return st, nil
	}
	walk := r.Walk(p)
	for _, m := range walk {
		if m != a.cfg.Self && !a.members.Alive(m) {
			st.Reason = "member " + m + " is down"
			return st, nil
		}
	}
	now := a.cfg.Now()
	var cands []candidate
	lo, hi := a.geo.partRange(p)
	err := a.scan(ctx, lo, hi, func(k storage.Key, c versioning.Clock) error {
		if len(cands) < maxReapPerPass && versioning.IsTombstoneAt(c, now.UnixNano()) && !now.Before(a.expiry(c)) {
			cands = append(cands, candidate{k, versioning.Digest(c)})
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("antientropy: reap partition %d: %w", p, err)
	}
	st.Candidates = len(cands)
	for lo := 0; lo < len(cands); lo += reapBatch {
		batch := cands[lo:min(lo+reapBatch, len(cands))]
		reaped, blocked, err := a.reapBatch(ctx, p, walk, prim, batch)
		st.Reaped += reaped
		st.Blocked += blocked
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// expiry returns when tombstone c may be reaped: the grace after its newest
// value's LastModified, or the expiry of an expired value if later.
func (a *AntiEntropy) expiry(c versioning.Clock) time.Time {
	var newest int64
	for _, v := range versioning.Values(c) {
		newest = max(newest, v.LastModified, v.Expires)
	}
	return time.Unix(0, newest).Add(a.cfg.TombstoneGrace)
}

func (a *AntiEntropy) reapBatch(ctx context.Context, p int, walk, prim []string, batch []candidate) (reaped, blocked int, err error) {
	ok := make([]bool, len(batch))
	for i := range ok {
		ok[i] = true
	}
	holders := make(map[string][]int) // member → indexes into batch it holds
	var st Stats                      // reaper traffic is counted in bytes only
	defer func() {
		a.m.bytes.WithLabelValues("sent").Add(float64(st.BytesSent))
		a.m.bytes.WithLabelValues("received").Add(float64(st.BytesReceived))
	}()
	for _, m := range walk {
		if m == a.cfg.Self {
			continue
		}
		states, err := a.remoteDigests(ctx, m, p, batch, &st)
		if err != nil {
			return 0, 0, err
		}
		primary := slices.Contains(prim, m)
		for i, s := range states {
			switch {
			case s.present && s.d == batch[i].d:
				holders[m] = append(holders[m], i)
			case primary || s.present:
				ok[i] = false
			}
		}
	}
	for _, m := range walk {
		idx := slices.DeleteFunc(holders[m], func(i int) bool { return !ok[i] })
		if len(idx) == 0 {
			continue
		}
		e := encoder{}
		e.header(a.geo)
		e.int(p)
		e.int(len(idx))
		for _, i := range idx {
			e.Str(batch[i].k.Bucket)
			e.Str(batch[i].k.Key)
			e.Fixed64(batch[i].d)
		}
		d, err := a.call(ctx, m, KindReap, e.B, &st)
		if err != nil {
			return 0, 0, err
		}
		d.raw(len(idx))
		if err := d.End(); err != nil {
			return 0, 0, err
		}
	}
	for i, c := range batch {
		if !ok[i] {
			blocked++
			continue
		}
		done, err := a.reapLocal(c.k, c.d)
		if err != nil {
			return reaped, blocked, fmt.Errorf("antientropy: reap %s: %w", c.k, err)
		}
		reaped += b2i(done)
	}
	return reaped, blocked, nil
}

// remoteDigests asks member m for its digest of every candidate.
func (a *AntiEntropy) remoteDigests(ctx context.Context, m string, p int, batch []candidate, st *Stats) ([]remoteState, error) {
	e := encoder{}
	e.header(a.geo)
	e.int(p)
	e.int(len(batch))
	for _, c := range batch {
		e.Str(c.k.Bucket)
		e.Str(c.k.Key)
	}
	d, err := a.call(ctx, m, KindDigests, e.B, st)
	if err != nil {
		return nil, err
	}
	out := make([]remoteState, len(batch))
	for i := range out {
		switch d.Byte() {
		case 0:
		case 1:
			out[i] = remoteState{present: true, d: d.Fixed64()}
		default:
			d.Fail("digest flag")
		}
	}
	return out, d.End()
}
