package quorum

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// hintBatch bounds the hints one delivery round reads.
const hintBatch = 4096

// RunHandoff delivers hints to their primaries until ctx ends. The node
// starts it in a goroutine it owns and cancels ctx on close.
func (c *Coordinator) RunHandoff(ctx context.Context) {
	if !c.cfg.HintedHandoff {
		return
	}
	t := time.NewTimer(jitter(c.cfg.HandoffInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.DeliverHints(ctx)
			t.Reset(jitter(c.cfg.HandoffInterval))
		}
	}
}

// jitter spreads d by ±20%, so nodes don't deliver in lockstep.
func jitter(d time.Duration) time.Duration {
	return d*4/5 + rand.N(d*2/5+1)
}

// DeliverHints runs one delivery round: every hint whose primary is alive is
// sent the local object's current state; on success the hint is dropped,
// and so is the local copy if this node is not a primary of the key and
// holds no other hint for it. A hint for a member that is no longer in the
// ring (it left or was removed) is delivered to the key's current replicas
// instead. It returns how many hints were delivered.
func (c *Coordinator) DeliverHints(ctx context.Context) int {
	type hint struct {
		target string
		key    storage.Key
	}
	var due []hint
	ring := c.members.Ring()
	err := c.store.Hints("", func(target string, k storage.Key) error {
		if len(due) >= hintBatch {
			return errStop
		}
		if target != c.cfg.Self && (c.members.Alive(target) || !slices.Contains(ring.Members(), target)) {
			due = append(due, hint{target, k})
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		c.log.Warn("cannot read hints", "err", err)
		return 0
	}
	delivered := 0
	for _, h := range due {
		if ctx.Err() != nil {
			break
		}
		if err := c.deliver(ctx, h.target, h.key); err != nil {
			c.m.hintFailures.Inc()
			c.log.Debug("hint delivery failed", "peer", h.target, "err", err)
			continue
		}
		delivered++
		c.m.hintsDelivered.Inc()
	}
	if delivered > 0 {
		c.log.Info("hints delivered", "count", delivered, "pending", c.store.HintCount())
	}
	return delivered
}

// errStop ends a hint scan early once a round has its batch.
var errStop = errors.New("quorum: hint batch full")

// deliver hands one key to member (or, if it is gone, to the key's
// replicas) under the key's lock, so that no write can slip in between
// sending the state and dropping the local copy.
func (c *Coordinator) deliver(ctx context.Context, member string, k storage.Key) error {
	unlock := c.store.Lock(k)
	defer unlock()
	cl, found, err := c.readLocal(k)
	if err != nil {
		return err
	}
	if found {
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
		obj := storage.AppendObject(nil, cl)
		for _, t := range to {
			cctx, cancel := context.WithTimeout(ctx, c.cfg.ReplicaTimeout)
			b, err := c.tr.Call(cctx, t.node, KindHandoff, encodePut(k, true, t.hintFor, obj))
			cancel()
			if err == nil {
				_, err = decodePutReply(b)
			}
			if err != nil {
				return err
			}
		}
	}
	if err := c.store.DeleteHint(member, k); err != nil {
		return err
	}
	if !found || c.replicates(k) || c.owedElsewhere(k, member) {
		return nil
	}
	c.actors.dropped(k.Hash)
	if err := c.store.Delete(k, false); err != nil {
		return err
	}
	c.m.fallbackDropped.Inc()
	if c.cfg.OnChange != nil {
		c.cfg.OnChange(k, cl, versioning.Clock{})
	}
	return nil
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
