package quorum

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynamod/dynamod/internal/jitter"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// A delivery round reads, per target, at most hintBatch hints whose keys
// hold at most hintBatchBytes, for at most roundTargets targets, and
// delivers to handoffTargets targets at once.
const (
	hintBatch      = 4096
	hintBatchBytes = 4 << 20
	roundTargets   = 64
	handoffTargets = 4
)

// RunHandoff delivers hints to their primaries until ctx ends. The node
// starts it in a goroutine it owns and cancels ctx on close.
func (c *Coordinator) RunHandoff(ctx context.Context) {
	if !c.cfg.HintedHandoff {
		return
	}
	seed := c.cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(seed, 0x68616e646f6666)) // owned by this loop
	t := time.NewTimer(jitter.Duration(c.cfg.HandoffInterval, 0.2, rng.Float64))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.DeliverHints(ctx)
			t.Reset(jitter.Duration(c.cfg.HandoffInterval, 0.2, rng.Float64))
		}
	}
}

// DeliverHints runs one delivery round: every hint whose primary is alive is
// sent the local object's current state; on success the hint is dropped,
// and so is the local copy if this node is not a primary of the key and
// holds no other hint for it. A hint for a member that is no longer in the
// ring (it left or was removed) is delivered to the key's current replicas
// instead. It returns how many hints were delivered.
//
// Targets are served handoffTargets at once, each in its own goroutine
// that delivers its hints one by one; a node that fails a call is not
// called again in the round, so a target that stops answering costs the
// round one replica timeout and holds up no other target. No key lock is
// held across a call (see deliver).
func (c *Coordinator) DeliverHints(ctx context.Context) int {
	batches, targets, err := c.dueHints()
	if err != nil {
		c.log.Warn("cannot read hints", "err", err)
	}
	failed := &failedNodes{m: map[string]bool{}}
	var delivered atomic.Int64
	var wg sync.WaitGroup
	slots := make(chan struct{}, handoffTargets)
	for _, target := range targets {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			delivered.Add(int64(c.deliverTo(ctx, target, batches[target], failed)))
		})
	}
	wg.Wait()
	if n := delivered.Load(); n > 0 {
		c.log.Info("hints delivered", "count", n, "pending", c.store.HintCount())
	}
	return int(delivered.Load())
}

// dueHints reads this round's hints: for every target other than this node
// that is alive or no longer in the ring, its first hints in hash order,
// within the per-target bounds. targets lists them in the order read.
func (c *Coordinator) dueHints() (batches map[string][]storage.Key, targets []string, err error) {
	batches = map[string][]storage.Key{}
	members := c.members.Ring().Members()
	last, due, bytes := "", false, 0
	err = c.store.Hints("", func(target string, k storage.Key) error {
		if target != last { // hints come grouped by target
			last, bytes = target, 0
			due = target != c.cfg.Self && len(targets) < roundTargets &&
				(c.members.Alive(target) || !slices.Contains(members, target))
			if due {
				targets = append(targets, target)
			}
		}
		if !due {
			return nil
		}
		bytes += len(k.Bucket) + len(k.Key)
		if n := len(batches[target]); n >= hintBatch || (n > 0 && bytes > hintBatchBytes) {
			due = false // this target's batch is full: skip the rest of its hints
			return nil
		}
		batches[target] = append(batches[target], k)
		return nil
	})
	return batches, targets, err
}

// failedNodes are the nodes that failed a hand-off call in this round.
type failedNodes struct {
	mu sync.Mutex
	m  map[string]bool
}

func (f *failedNodes) add(n string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[n] = true
}

func (f *failedNodes) has(n string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[n]
}

// errSkipped is a delivery not tried because a node it needs failed
// earlier in the round.
var errSkipped = errors.New("quorum: hand-off target failed earlier in this round")

// deliverTo delivers one target's batch in order and returns how many hints
// it delivered. It stops at the first failure of a member's own delivery;
// the keys of a member that is gone go to different replicas each, so
// only the keys that need a failed node are skipped.
func (c *Coordinator) deliverTo(ctx context.Context, target string, keys []storage.Key, failed *failedNodes) int {
	gone := !slices.Contains(c.members.Ring().Members(), target)
	n := 0
	for _, k := range keys {
		if ctx.Err() != nil {
			break
		}
		ok, err := c.deliver(ctx, target, k, failed)
		switch {
		case errors.Is(err, errSkipped):
			if !gone {
				return n
			}
			continue
		case err != nil:
			c.m.hintFailures.Inc()
			if !gone {
				c.log.Info("hint delivery failed; the target's other hints wait for the next round", "peer", target, "err", err)
				return n
			}
			c.log.Debug("hint delivery failed", "peer", target, "err", err)
			continue
		case ok:
			n++
			c.m.hintsDelivered.Inc()
		}
	}
	return n
}

// deliver hands one key to member (or, if it is gone, to the key's
// replicas) and reports whether the hint was delivered and dropped. It
// reads the local state under the key's lock, sends it without the lock,
// then takes the lock again: if the state is still the one sent (same
// Digest), it drops the hint and, if this node is no replica of the key
// and owes it to no one else, the local copy. If a write slipped in
// meanwhile, the copy and the hint stay and the next round sends the
// newer state.
func (c *Coordinator) deliver(ctx context.Context, member string, k storage.Key, failed *failedNodes) (bool, error) {
	unlock := c.store.Lock(k)
	cl, found, err := c.readLocal(k)
	unlock()
	if err != nil {
		return false, err
	}
	var sent uint64
	if found {
		sent = versioning.Digest(cl)
		to := []target{{node: member}}
		if !slices.Contains(c.members.Ring().Members(), member) {
			// The member is gone: its replicas are the key's replicas now.
			p := c.place(k.Bucket, k.Key, c.buckets.Props(k.Bucket).NVal)
			to = to[:0]
			for _, t := range slices.Concat(p.targets, p.pending) {
				if t.node != c.cfg.Self {
					to = append(to, t)
				}
			}
		}
		for _, t := range to {
			if failed.has(t.node) {
				return false, errSkipped
			}
		}
		body := newPutBody(k, true, cl)
		for _, t := range to {
			cctx, cancel := context.WithTimeout(ctx, c.cfg.ReplicaTimeout)
			b, err := c.tr.Call(cctx, t.node, KindHandoff, body.to(k, true, t.hintFor))
			cancel()
			if err == nil {
				_, _, err = decodePutReply(b)
			}
			if err != nil {
				failed.add(t.node)
				return false, fmt.Errorf("%s: %w", t.node, err)
			}
		}
	}
	unlock = c.store.Lock(k)
	defer unlock()
	cur, still, err := c.readLocal(k)
	if err != nil {
		return false, err
	}
	if still != found || (found && versioning.Digest(cur) != sent) {
		// A write slipped in: keep the copy and the hint for the next round.
		return false, nil
	}
	if err := c.store.DeleteHint(member, k); err != nil {
		return false, err
	}
	if !found || c.replicates(k) || c.owedElsewhere(k, member) {
		return true, nil
	}
	c.actors.dropped(k.Hash)
	if err := c.store.Delete(k, false); err != nil {
		return true, err
	}
	c.m.fallbackDropped.Inc()
	if c.cfg.OnChange != nil {
		c.cfg.OnChange(k, cl, versioning.Clock{})
	}
	return true, nil
}

// replicates reports whether this node is a replica of k: one of the
// owners serving it (a primary, or a holder standing in for a new owner),
// or a new owner still receiving it.
func (c *Coordinator) replicates(k storage.Key) bool {
	props := c.buckets.Props(k.Bucket)
	r := c.members.Ring()
	walk, n, pending := c.members.Owners(r.Partition(k.Hash), props.NVal)
	return slices.Contains(walk[:n], c.cfg.Self) || slices.Contains(pending, c.cfg.Self)
}

// owedElsewhere reports whether this node holds a hint for k for a member
// other than except.
func (c *Coordinator) owedElsewhere(k storage.Key, except string) bool {
	for _, m := range c.members.Ring().Members() {
		if has, err := c.store.HasHint(m, k); m != except && (has || err != nil) {
			return true
		}
	}
	return false
}

// ReleaseLocal drops this node's copy of k if it is no replica of k and
// owes it to nobody (no hint): what a node does with a partition it
// handed off. It reports whether it dropped the copy.
func (c *Coordinator) ReleaseLocal(k storage.Key) (bool, error) {
	unlock := c.store.Lock(k)
	defer unlock()
	cl, found, err := c.readLocal(k)
	if err != nil || !found || c.replicates(k) || c.owedElsewhere(k, "") {
		return false, err
	}
	c.actors.dropped(k.Hash)
	if err := c.store.Delete(k, false); err != nil {
		return false, err
	}
	c.m.released.Inc()
	if c.cfg.OnChange != nil {
		c.cfg.OnChange(k, cl, versioning.Clock{})
	}
	return true, nil
}
