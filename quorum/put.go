package quorum

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/dynamod/dynamod/pbs"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// Put writes v as the successor of everything vctx has seen. A node that is
// not a primary for the key forwards the write to the first live primary,
// which coordinates it; see coordinate.
func (c *Coordinator) Put(ctx context.Context, bucket, key string, vctx versioning.Context, v versioning.Value, o WriteOptions) (*Object, error) {
	start := time.Now()
	op := "put"
	if v.Deleted {
		op = "delete"
	}
	obj, err := c.put(ctx, op, bucket, key, vctx, v, o)
	c.m.observe(op, err, start)
	return obj, err
}

func (c *Coordinator) put(ctx context.Context, op, bucket, key string, vctx versioning.Context, v versioning.Value, o WriteOptions) (*Object, error) {
	props := c.buckets.Props(bucket)
	if int64(len(v.Data)) > props.MaxValueBytes {
		return nil, fmt.Errorf("%w: value of %d bytes exceeds max_value_bytes %d", ErrTooLarge, len(v.Data), props.MaxValueBytes)
	}
	if err := vctx.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if int64(len(v.Data)) > props.WarnValueBytes {
		c.m.largeValues.Inc()
		c.log.Warn("large value", "bucket", bucket, "bytes", len(v.Data))
	}
	p := c.place(bucket, key, props.NVal)
	if p.n == 0 {
		return nil, &UnavailableError{Op: op, Reason: "no members"}
	}
	// Validate the quorums here too, so a bad request fails before any
	// forwarding.
	if _, _, _, err := writeQuorums(o, props, p.n); err != nil {
		return nil, err
	}
	if v.LastModified == 0 {
		v.LastModified = c.cfg.Now().UnixNano()
	}
	client := versioning.New(vctx, v)

	return c.write(ctx, op, p, client, o, props)
}

// write coordinates a write here if this node is a target of the key, and
// otherwise forwards it to the first target that answers: live primaries
// first, then fallbacks standing in for them. A target whose storage
// refuses the write (this node included) wrote nothing, so the write moves
// on to the next one. client holds the write's context as its entries and
// the values to write as anonymous values.
func (c *Coordinator) write(ctx context.Context, op string, p placement, client versioning.Clock, o WriteOptions, props Props) (*Object, error) {
	if !p.isTarget(c.cfg.Self) {
		return c.forward(ctx, op, p, client, o, nil)
	}
	obj, err := c.coordinate(ctx, op, p, client, o, props)
	if !refusedByStorage(err) || ctx.Err() != nil {
		return obj, err
	}
	// This node's storage refuses writes (its /ready says why): another
	// target coordinates, and keeps a hint for this one.
	return c.forward(ctx, op, p, client, o, err)
}

// forward sends a write to the targets other than this node, in
// forwardOrder, until one coordinates it. lastErr is the error to report
// if none is tried.
func (c *Coordinator) forward(ctx context.Context, op string, p placement, client versioning.Clock, o WriteOptions, lastErr error) (*Object, error) {
	msg := coordMsg{key: p.key, client: client, w: o.W, pw: o.PW, dw: o.DW}
	var order []target
	for _, t := range forwardOrder(p.targets) {
		if t.node != c.cfg.Self {
			order = append(order, t)
		}
	}
	for i, t := range order {
		// A target believed alive may not answer (a paused process): each
		// but the last gets the replica timeout, the last what is left.
		actx, cancel := ctx, context.CancelFunc(func() {})
		if i < len(order)-1 {
			actx, cancel = context.WithTimeout(ctx, c.cfg.ReplicaTimeout)
		}
		if dl, ok := actx.Deadline(); ok {
			msg.timeoutMS = max(time.Until(dl).Milliseconds(), 1)
		}
		b, err := c.tr.Call(actx, t.node, KindCoordinate, msg.encode())
		cancel()
		if err != nil {
			lastErr = err
			if ctx.Err() != nil || op == "update" {
				// An update may have been applied there: applied twice
				// it would count twice (types.go).
				break
			}
			// Unreachable or silent: try the next one. If it did apply
			// the write, the next coordinator finds it applied (see
			// updateLocal) instead of writing it twice.
			continue
		}
		obj, err := decodeCoordReply(b)
		if refusedByStorage(err) {
			// Its storage refuses writes and it wrote nothing.
			lastErr = err
			continue
		}
		c.m.forwarded.Inc()
		return obj, err
	}
	if ctx.Err() != nil {
		return nil, &UnavailableError{Op: op, Want: 1, Reason: ctxErrReason(ctx.Err())}
	}
	if refusedByStorage(lastErr) {
		return nil, lastErr
	}
	return nil, &UnavailableError{Op: op, Want: 1, Reason: fmt.Sprintf("no coordinator reachable: %v", lastErr)}
}

// refusedByStorage reports whether err is a coordinator's answer that its
// storage refused the write (see storageRefused): nothing was written.
func refusedByStorage(err error) bool {
	if err == nil {
		return false // before ue, whose address escapes: no allocation
	}
	var ue *UnavailableError
	return errors.As(err, &ue) && ue.Reason == reasonStorage
}

// forwardOrder lists the targets a write is forwarded to: live primaries
// first, in preference order, then the fallbacks standing in for down ones.
func forwardOrder(ts []target) []target {
	out := make([]target, 0, len(ts))
	for _, t := range ts {
		if t.primary {
			out = append(out, t)
		}
	}
	for _, t := range ts {
		if !t.primary {
			out = append(out, t)
		}
	}
	return out
}

func (p *placement) isTarget(node string) bool {
	for _, t := range p.targets {
		if t.node == node {
			return true
		}
	}
	return false
}

// writeQuorums resolves W, PW and DW for a request.
func writeQuorums(o WriteOptions, props Props, n int) (w, pw, dw int, err error) {
	if w, err = resolveQuorum("w", o.W, props.W, props.NVal, n, 1); err != nil {
		return
	}
	if pw, err = resolveQuorum("pw", o.PW, props.PW, props.NVal, n, 0); err != nil {
		return
	}
	dw, err = resolveQuorum("dw", o.DW, props.DW, props.NVal, n, 0)
	return
}

// serveCoordinate runs a write forwarded by another node.
func (c *Coordinator) serveCoordinate(ctx context.Context, body []byte) []byte {
	m, err := decodeCoord(body)
	if err != nil {
		return encodeErr(err)
	}
	props := c.buckets.Props(m.key.Bucket)
	if err := checkValues(m.client, props); err != nil {
		return encodeErr(err)
	}
	p := c.place(m.key.Bucket, m.key.Key, props.NVal)
	if p.n == 0 {
		return encodeErr(&UnavailableError{Op: "put", Reason: "no members"})
	}
	if !p.isTarget(c.cfg.Self) {
		// The sender's view of the ring or of liveness differs from ours;
		// coordinating anyway is safe (we persist locally and mint a fresh
		// actor) and keeps the write available.
		c.log.Debug("coordinating a write for a key we do not replicate", "bucket", m.key.Bucket)
	}
	op := "put"
	if v := m.client.Anon[0]; v.Deleted && len(m.client.Anon) == 1 {
		op = "delete"
	}
	o := WriteOptions{W: m.w, PW: m.pw, DW: m.dw}
	obj, err := c.coordinate(ctx, op, p, m.client, o, props)
	if err != nil {
		return encodeErr(err)
	}
	e := encoder{}
	e.Byte(stOK)
	e.Uvarint(uint64(obj.Replicas))
	e.object(obj.Clock)
	return e.B
}

func decodeCoordReply(b []byte) (*Object, error) {
	if len(b) == 0 {
		return nil, errMalformed
	}
	d := newDecoder(b[1:])
	if b[0] != stOK {
		return nil, decodeErr(b[0], &d)
	}
	n := int(d.Uvarint())
	cl := d.object()
	if err := d.End(); err != nil {
		return nil, err
	}
	return &Object{Clock: cl, Context: versioning.Join(cl), Replicas: n}, nil
}

// putAck is one replica's answer to a replicate.
type putAck struct {
	t       target
	durable bool
	err     error
}

// coordinate is the coordinator's part of a write: Update against the local
// state under the key's lock, persist, send the new state to the other
// targets, answer after W acks (PW of them primaries, DW durable).
func (c *Coordinator) coordinate(ctx context.Context, op string, p placement, client versioning.Clock, o WriteOptions, props Props) (*Object, error) {
	w, pw, dw, err := writeQuorums(o, props, p.n)
	if err != nil {
		return nil, err
	}
	self := target{node: c.cfg.Self}
	for _, t := range p.targets {
		if t.node == c.cfg.Self {
			self = t
		}
	}
	wr := newWriteRound(p.targets, p.isTarget(c.cfg.Self), w, pw, dw)
	if wr.result() == voteLost {
		return nil, unavailable(op, &wr.t, "insufficient replicas")
	}

	syncLocal := dw > 0
	newClock, body, err := c.updateLocal(p, self, client, syncLocal, props)
	if err != nil {
		if ue := storageRefused(op, &wr.t, err); ue != nil {
			return nil, ue
		}
		return nil, err
	}
	wr.local(self, p.isTarget(c.cfg.Self), syncLocal)

	acks := newTail[putAck](len(p.targets) + len(p.pending))
	bctx := c.bgContext()
	sent := 0
	for _, tg := range slices.Concat(p.targets, p.pending) {
		if tg.node == c.cfg.Self {
			continue
		}
		sent++
		msg := body.to(p.key, dw > 0, tg.hintFor)
		sentAt := time.Now()
		c.send(bctx, tg.node, KindReplicate, msg, func(b []byte, err error) {
			var durable bool
			if err == nil {
				got := time.Now()
				var at int64
				durable, at, err = decodePutReply(b)
				if err == nil {
					c.observe(pbs.WriteRequest, pbs.WriteAck, sentAt, got, at)
					c.stampers.set(tg.node, at != 0)
				}
			}
			acks.send(putAck{t: tg, durable: durable, err: err})
		})
	}
	// Down primaries with no fallback: the coordinator keeps their hints.
	for _, down := range p.unhinted {
		if err := c.store.PutHint(down, p.key, false); err != nil {
			c.log.Warn("cannot store hint", "peer", down, "err", err)
		} else {
			c.m.hintsStored.Inc()
		}
	}

	received := 0
	result := wr.result()
	var waitErr error
	for result == votePending && received < sent {
		select {
		case a := <-acks.ch:
			received++
			c.noteAck(p, a)
			wr.step(a)
			result = wr.result()
		case <-ctx.Done():
			waitErr = ctx.Err()
			result = voteLost
		}
	}
	// The acks still due keep their hints (closing: the calls end with
	// bctx, which Close ends). A late ack arrives on the goroutine that
	// received it, which must not block: a hint, a write, is kept on a
	// goroutine of its own.
	acks.finish(nil, sent-received, func(a putAck) {
		if _, owed := hintOwed(a); owed {
			c.bg.GoPooled(func() { c.noteAck(p, a) })
		}
	}, nil)
	if result != voteWon {
		reason := "insufficient replicas"
		if waitErr != nil {
			reason = ctxErrReason(waitErr)
		}
		return nil, unavailable(op, &wr.t, reason)
	}
	return &Object{Clock: newClock, Context: versioning.Join(newClock), Replicas: wr.t.ok}, nil
}

// noteAck keeps a hint for a replica that failed to take a write, so that
// handoff delivers it when the replica answers again.
func (c *Coordinator) noteAck(p placement, a putAck) {
	intended, owed := hintOwed(a)
	if !owed {
		return
	}
	if c.life.Err() != nil {
		return // shutting down: the error is ours, not the replica's
	}
	if err := c.store.PutHint(intended, p.key, false); err == nil {
		c.m.hintsStored.Inc()
	}
}

// applied reports whether a write was already applied to local: each of
// its values is live in local at a dot its own context does not cover.
// (A value the context covers was read, not written: a resolver that
// picks one of the siblings it was given writes that value again, and
// that write must supersede the others.)
func applied(local, write versioning.Clock) bool {
	if len(write.Anon) == 0 {
		return false
	}
	for _, v := range write.Anon {
		found := false
		for _, e := range local.Entries {
			for i, lv := range e.Values {
				if versioning.ValueEqual(lv, v) && !covers(write, e.Actor, e.Counter-uint64(i)) {
					found = true
				}
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// covers reports whether the entries of cl cover the dot (actor, n).
func covers(cl versioning.Clock, actor versioning.ActorID, n uint64) bool {
	for _, e := range cl.Entries {
		if e.Actor == actor {
			return e.Counter >= n
		}
	}
	return false
}

// checkValues refuses a write that carries more values than the bucket
// allows as siblings, before any work on them: each value costs an Update
// of a clock that grows with them (quadratic under the key's lock).
func checkValues(client versioning.Clock, props Props) error {
	if n := len(client.Anon); n > props.MaxSiblings {
		return fmt.Errorf("%w: write carries %d values, max_siblings is %d", ErrTooLarge, n, props.MaxSiblings)
	}
	return nil
}

// counterOf returns the counter of actor in the entries of cl (0 if none).
func counterOf(cl versioning.Clock, actor versioning.ActorID) uint64 {
	for _, e := range cl.Entries {
		if e.Actor == actor {
			return e.Counter
		}
	}
	return 0
}

// counterRoom reports whether actor can mint n more dots over local and
// the write's context, and returns the counter it starts from. Update
// leaves the clock unchanged instead of minting past 2^64-1.
func counterRoom(client, local versioning.Clock, actor versioning.ActorID, n int) (uint64, bool) {
	from := max(counterOf(client, actor), counterOf(local, actor))
	return from, from <= math.MaxUint64-uint64(n)
}

// updateLocal applies a client write to the local state: Update under the
// key's lock, with an actor chosen so that no dot is ever minted twice.
// Every write either stores its values, each at a new dot, or answers an
// error. It returns the new state and the replicate message carrying it
// (sync as the replicas must take it): the state is encoded once, into
// the message, and stored from there.
func (c *Coordinator) updateLocal(p placement, self target, client versioning.Clock, sync bool, props Props) (versioning.Clock, putBody, error) {
	if err := checkValues(client, props); err != nil {
		return versioning.Clock{}, putBody{}, err
	}
	unlock := c.store.Lock(p.key)
	defer unlock()
	local, found, err := c.readLocal(p.key)
	if err != nil {
		return versioning.Clock{}, putBody{}, err
	}
	if found && applied(local, client) {
		// A forward retried after its answer was lost: this write is
		// already here (its values, stamped by the receiving node to the
		// nanosecond, are live). Minting it again would make equal
		// siblings; the caller replicates the state as it is.
		return local, newReplicateBody(p.key, sync, local), nil
	}
	next, err := c.mint(p.key, local, found, client, props)
	if err != nil {
		return versioning.Clock{}, putBody{}, err
	}
	body := newReplicateBody(p.key, sync, next)
	if err := c.store.PutEncoded(p.key, next, body.obj, sync); err != nil {
		return versioning.Clock{}, putBody{}, err
	}
	if self.hintFor != "" {
		if err := c.store.PutHint(self.hintFor, p.key, sync); err != nil {
			return versioning.Clock{}, putBody{}, err
		}
	}
	if !p.isTarget(c.cfg.Self) {
		// Coordinating a key this node does not replicate (the sender saw
		// other liveness or another ring): the copy is owed to every
		// target, so handoff delivers it and then drops it, and no orphan
		// stays behind outside the preference list.
		for _, t := range p.targets {
			if err := c.store.PutHint(t.node, p.key, sync); err != nil {
				return versioning.Clock{}, putBody{}, err
			}
		}
	}
	if c.cfg.OnChange != nil {
		c.cfg.OnChange(p.key, local, next)
	}
	return next, body, nil
}

// mint returns local updated with the client's write: each of its values
// at a new dot of an actor that has room for them, within max_siblings.
func (c *Coordinator) mint(k storage.Key, local versioning.Clock, found bool, client versioning.Clock, props Props) (versioning.Clock, error) {
	actor, err := c.actors.forKey(k.Hash, local, found)
	if err != nil {
		return versioning.Clock{}, err
	}
	from, ok := counterRoom(client, local, actor, len(client.Anon))
	if !ok {
		// A context (this one or one merged before) took the actor's
		// counter to its end. A fresh actor has room, unless the context
		// names it too.
		if actor, err = c.actors.fresh(); err != nil {
			return versioning.Clock{}, err
		}
		if from, ok = counterRoom(client, local, actor, len(client.Anon)); !ok {
			return versioning.Clock{}, fmt.Errorf("%w: the write's context exhausts the counter of every actor that could mint its dot", ErrBadRequest)
		}
	}
	// On a datatype bucket the write becomes the state to store, made
	// with this actor (types.go).
	if client, err = applyDatatype(local, client, actor, props); err != nil {
		return versioning.Clock{}, err
	}
	// The first value descends the write's context; any further ones
	// (siblings a resolver could not use) are kept next to it as blind
	// writes, each with its own dot.
	next := versioning.Update(client, local, actor)
	for _, v := range client.Anon[min(1, len(client.Anon)):] {
		next = versioning.Update(versioning.New(nil, v), next, actor)
	}
	if got := counterOf(next, actor); len(client.Anon) > 0 && got != from+uint64(len(client.Anon)) {
		// Update minted fewer dots than values: storing next would
		// acknowledge a write that is not there.
		return versioning.Clock{}, fmt.Errorf("quorum: write of %d values minted %d dots", len(client.Anon), got-from)
	}
	if next.Len() > props.MaxSiblings {
		return versioning.Clock{}, fmt.Errorf("%w: write would leave %d siblings, max_siblings is %d", ErrTooLarge, next.Len(), props.MaxSiblings)
	}
	return next, nil
}
