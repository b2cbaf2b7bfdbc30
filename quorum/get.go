package quorum

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"time"

	"github.com/dynamod/dynamod/internal/wire"
	"github.com/dynamod/dynamod/pbs"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// getReply is one replica's answer to a read.
type getReply struct {
	t     target
	clock versioning.Clock
	found bool
	err   error
}

// Get reads a key: it asks R target replicas (PR primaries), this node
// first if it is one, and more when one fails, does not count or is
// slower than Config.SpeculativeRead, or for the bucket's
// read_repair_chance share of reads all of them; it answers once R of
// them agree, merged with Sync, and read-repairs every asked replica
// behind the merge afterwards, late replies included.
func (c *Coordinator) Get(ctx context.Context, bucket, key string, o ReadOptions) (*Object, error) {
	start := time.Now()
	obj, err := c.get(ctx, bucket, key, o)
	c.m.observe("get", err, start)
	return obj, err
}

func (c *Coordinator) get(ctx context.Context, bucket, key string, o ReadOptions) (*Object, error) {
	props := c.buckets.Props(bucket)
	p := c.place(bucket, key, props.NVal)
	if p.n == 0 {
		return nil, &UnavailableError{Op: "get", Reason: "no members"}
	}
	r, err := resolveQuorum("r", o.R, props.R, props.NVal, p.n, 1)
	if err != nil {
		return nil, err
	}
	pr, err := resolveQuorum("pr", o.PR, props.PR, props.NVal, p.n, 0)
	if err != nil {
		return nil, err
	}
	notFoundOK := *props.NotFoundOK
	if o.NotFoundOK != nil {
		notFoundOK = *o.NotFoundOK
	}

	rr := newReadRound(p.targets, r, pr, notFoundOK)
	if rr.state() == readUnavailable {
		return nil, unavailable("get", &rr.t, "insufficient replicas")
	}

	replies := newTail[getReply](len(p.targets))
	// Remote reads may outlive the request: their answers feed read repair.
	bctx := c.bgContext()
	// bodies are the request with each combination of flags, built when
	// first sent: getStamp asks the replica for its clock (pbs.go),
	// getDigest sends the digest of this node's copy (getDigest). The
	// first one built takes the room encodeKey leaves after the key; a
	// read whose peers differ in what they take builds more.
	var bodies [getStamp | getDigest + 1][]byte
	bodies[0] = encodeKey(p.key)
	roomUsed := false
	// local is this node's copy and digest its versioning.Digest, set when
	// this node read a copy whose encoding has at least Config.DigestRead
	// bytes (it reads first: readOrder).
	var local versioning.Clock
	var digest uint64
	digested := false
	order := readOrder(p.targets, c.cfg.Self)
	asked := 0
	ask := func(n int) {
		for ; n > 0 && asked < len(order); n-- {
			tg := order[asked]
			asked++
			if tg.node == c.cfg.Self {
				cl, found, err := c.readLocal(p.key)
				if err == nil && found && c.digestRead(cl) {
					local, digest, digested = cl, versioning.Digest(cl), true
				}
				replies.send(getReply{t: tg, clock: cl, found: found, err: err})
				continue
			}
			var flags uint8
			if c.stampers.has(tg.node) {
				flags |= getStamp
			}
			if digested && c.digestPeer(tg.node) {
				flags |= getDigest
			}
			if bodies[flags] == nil {
				key := bodies[0]
				if roomUsed {
					key = slices.Clip(key) // the room holds another body
				}
				bodies[flags] = appendGetFlags(key, flags, digest)
				roomUsed = roomUsed || flags != 0
			}
			body, mine := bodies[flags], local
			sent := time.Now()
			c.send(bctx, tg.node, KindGet, body, func(b []byte, err error) {
				if err != nil {
					replies.send(getReply{t: tg, err: err})
					return
				}
				got := time.Now()
				c.spec.observe(got.Sub(sent))
				var cl versioning.Clock
				var found, same bool
				var at int64
				if flags&getDigest != 0 {
					at, same = cutSame(b)
				}
				if same {
					// The replica's copy is this node's: not shipped.
					cl, found = mine, true
					c.m.digestSame.Inc()
				} else {
					cl, found, at, err = decodeGetReply(b)
					switch {
					case flags&getDigest != 0 && errors.Is(err, ErrBadRequest):
						// An earlier version, which takes no digest: reads
						// ask it for its copy for a while (digestPeer).
						c.noDigest.refresh(tg.node)
					case flags&getStamp != 0 && errors.Is(err, ErrBadRequest):
						c.stampers.set(tg.node, false) // an earlier version again
					case flags&getDigest != 0 && err == nil:
						c.m.digestDiffer.Inc()
					}
				}
				if err == nil {
					c.observe(pbs.ReadRequest, pbs.ReadResponse, sent, got, at)
				}
				replies.send(getReply{t: tg, clock: cl, found: found, err: err})
			})
		}
	}
	// R replicas (PR primaries among them: readOrder puts primaries
	// first) unless this read is one of the read_repair_chance share that
	// asks them all.
	if c.fullRead(props.readRepairChance()) {
		ask(len(order))
	} else {
		ask(max(r, pr))
	}
	var speculate <-chan time.Time // nil when every target is asked already
	if asked < len(order) {
		spec := time.NewTimer(c.speculativeRead())
		defer spec.Stop()
		speculate = spec.C
	}

	var got []getReply
	for rr.state() == readPending {
		if len(got) == asked {
			// Every replica asked has answered and R is not met yet.
			ask(len(order))
		}
		select {
		case rp := <-replies.ch:
			got = append(got, rp)
			rr.step(rp)
			if rp.err != nil || (!rp.found && !notFoundOK) {
				ask(1) // it does not count toward R: ask the next one
			}
		case <-speculate:
			// One asked replica is slow (a paused process): ask the rest
			// too, as Cassandra's speculative retry.
			c.m.speculativeReads.Inc()
			ask(len(order))
		case <-ctx.Done():
			c.finishRead(p, got, asked, replies)
			return nil, unavailable("get", &rr.t, ctxErrReason(ctx.Err()))
		}
	}
	c.finishRead(p, got, asked, replies)

	switch rr.state() {
	case readNotFound:
		return nil, ErrNotFound
	case readUnavailable:
		return nil, unavailable("get", &rr.t, "insufficient replicas")
	}
	obj := rr.result()
	c.m.siblings.Observe(float64(obj.Clock.Len()))
	if obj.Clock.Len() > props.WarnSiblings {
		c.m.siblingWarnings.Inc()
		c.log.Warn("many siblings", "bucket", bucket, "siblings", obj.Clock.Len())
	}
	obj, gone := c.expireRead(p, props, obj) // expire.go
	if obj.Clock.Len() > 1 && !gone {
		obj = c.resolveSiblings(ctx, p, props, obj)
	}
	return obj, nil
}

// finishRead repairs every asked replica whose state is behind the merge
// of all their replies, once all are in: on the goroutine that receives
// the last one (a transport's read loop, see Coordinator.send), or here
// when every reply is in already. Either way the plan is made in memory
// and a pooled goroutine sends the repair, only if there is anything to
// repair (most reads find nothing). Closing, it starts nothing: the calls
// end with the background context, which Close ends.
func (c *Coordinator) finishRead(p placement, got []getReply, asked int, replies *tail[getReply]) {
	repair := func(all []getReply) {
		if merged, behind := repairPlan(all); len(behind) > 0 {
			c.bg.GoPooled(func() { c.readRepair(p, merged, behind) })
		}
	}
	if all, done := replies.finish(got, asked-len(got), nil, repair); done {
		repair(all)
	}
}

// readRepair sends merged, the merge of all found replies of a read, to
// every replica behind it (a different state, or not found).
func (c *Coordinator) readRepair(p placement, merged versioning.Clock, behind []getReply) {
	var obj []byte
	ctx := c.bgContext()
	for _, rp := range behind {
		c.m.readRepairs.Inc()
		if rp.t.node == c.cfg.Self {
			if _, err := c.mergeLocal(p.key, merged, false, rp.t.hintFor); err != nil {
				c.log.Warn("read repair failed", "peer", rp.t.node, "err", err)
			}
			continue
		}
		if obj == nil {
			obj = storage.AppendObject(nil, merged)
		}
		b, err := c.tr.Call(ctx, rp.t.node, KindRepair, encodePut(p.key, false, rp.t.hintFor, obj))
		if err == nil {
			_, _, err = decodePutReply(b)
		}
		if err != nil {
			c.log.Debug("read repair failed", "peer", rp.t.node, "err", err)
		}
	}
}

// encodeKey encodes k with room after it for a get's flags and digest
// (appendGetFlags).
func encodeKey(k storage.Key) []byte {
	e := encoder{wire.Encoder{B: make([]byte, 0, 16+len(k.Bucket)+len(k.Key)+9)}}
	e.key(k)
	return e.B
}

// appendGetFlags makes a KindGet request of key (encodeKey's): with flags
// set, it appends the flags byte and, with getDigest, the digest.
func appendGetFlags(key []byte, flags uint8, digest uint64) []byte {
	if flags == 0 {
		return key
	}
	b := append(key, flags)
	if flags&getDigest != 0 {
		b = binary.BigEndian.AppendUint64(b, digest)
	}
	return b
}

// digestRead reports whether a read that found cl here asks the other
// replicas for a digest match (Config.DigestRead).
func (c *Coordinator) digestRead(cl versioning.Clock) bool {
	min := c.cfg.DigestRead
	if min == 0 {
		min = DefaultDigestRead
	}
	return min > 0 && storage.ObjectSize(cl) >= min
}

// digestRetry is how long a peer that refused a digest read (an earlier
// version) is asked for its copy before a read tries a digest again: it
// may have been upgraded since. Its entry in noDigest stays; once older
// than this it no longer counts, and a new refusal refreshes it.
const digestRetry = time.Minute

// digestPeer reports whether a read may send peer a digest.
func (c *Coordinator) digestPeer(peer string) bool {
	t, refused := c.noDigest.since(peer)
	return !refused || time.Since(t) >= digestRetry
}

// readOrder lists the targets in the order a read asks them: this node
// first (its read costs no message), then the others in forwardOrder
// (primaries, then fallbacks).
func readOrder(ts []target, self string) []target {
	out := forwardOrder(ts)
	for i, t := range out {
		if t.node == self {
			copy(out[1:i+1], out[:i])
			out[0] = t
			break
		}
	}
	return out
}

// fullRead reports whether this read is one of the share chance of reads
// that ask every replica. Every 1/chance-th read is, counted per
// coordinator: no random draw, so a seeded test replays exactly.
func (c *Coordinator) fullRead(chance float64) bool {
	if chance >= 1 {
		return true
	}
	if chance <= 0 {
		return false
	}
	i := c.reads.Add(1) - 1
	return uint64(float64(i+1)*chance) > uint64(float64(i)*chance)
}

// speculativeRead is how long a read waits for the replicas it asked
// before it asks the rest.
func (c *Coordinator) speculativeRead() time.Duration {
	if c.cfg.SpeculativeRead == 0 {
		c.spec.tick() // speculate.go
	}
	return c.SpeculativeDelay()
}
