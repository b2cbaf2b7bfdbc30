package antientropy

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/dynamod/dynamod/internal/wire"
	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// Serve answers a peer's anti-entropy request (kinds KindBase and up; the
// node routes them here). It is the transport.Handler side of every
// message: safe for concurrent use, it holds no lock across I/O, and it
// never panics on bad bytes: a body that does not decode is refused with
// an error wrapping [ErrMalformed] before anything changes. body is not
// kept after Serve returns.
func (a *AntiEntropy) Serve(ctx context.Context, from string, kind uint8, body []byte) ([]byte, error) {
	name := "unknown"
	if kind >= KindBase && kind < kindEnd {
		name = KindName(kind)
	}
	a.m.served.WithLabelValues(name).Inc()
	d := ptrDecoder(body)
	if mm := d.header(a.geo); mm != nil {
		return mm, nil
	}
	var resp []byte
	var err error
	switch kind {
	case KindRoots:
		resp, err = a.serveRoots(d)
	case KindBranches:
		resp, err = a.serveBranches(d)
	case KindLeaves:
		resp, err = a.serveLeaves(d)
	case KindRanges:
		resp, err = a.serveRanges(ctx, d)
	case KindSync:
		resp, err = a.serveSync(ctx, d)
	case KindDigests:
		resp, err = a.serveDigests(d)
	case KindReap:
		resp, err = a.serveReap(d)
	default:
		err = fmt.Errorf("%w: unknown kind %d", ErrMalformed, kind)
	}
	if err != nil {
		return nil, fmt.Errorf("antientropy: serve %s from %s: %w", name, from, err)
	}
	return resp, nil
}

func (a *AntiEntropy) serveRoots(d *decoder) ([]byte, error) {
	n := d.count(9)
	ps := make([]int, n)
	roots := make([]uint64, n)
	for i := range n {
		ps[i] = d.int(len(a.trees))
		roots[i] = d.Fixed64()
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	differ := make([]bool, n)
	notReady := make([]bool, n)
	for i, p := range ps {
		snap := a.trees[p].snapshot()
		differ[i] = snap.root != roots[i]
		notReady[i] = !snap.built
	}
	e := encoder{}
	e.Byte(stOK)
	e.B = append(e.B, bitmap(n, func(i int) bool { return differ[i] })...)
	e.B = append(e.B, bitmap(n, func(i int) bool { return notReady[i] })...)
	return e.B, nil
}

func (a *AntiEntropy) serveBranches(d *decoder) ([]byte, error) {
	p := d.int(len(a.trees))
	root := d.Fixed64()
	if err := d.End(); err != nil {
		return nil, err
	}
	snap := a.trees[p].snapshot()
	if !snap.built {
		return []byte{stNotReady}, nil
	}
	if snap.root == root {
		return []byte{stOK, 1}, nil
	}
	e := encoder{}
	e.Byte(stOK)
	e.Byte(0)
	e.sparse(snap.branches, a.geo.branches())
	return e.B, nil
}

func (a *AntiEntropy) serveLeaves(d *decoder) ([]byte, error) {
	p := d.int(len(a.trees))
	n := d.count(1)
	if n > a.geo.branches() {
		d.Fail("more branches than the tree has")
	}
	bs := make([]int, n)
	for i := range bs {
		bs[i] = d.int(a.geo.branches())
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	t := &a.trees[p]
	if !a.isBuilt(p) {
		return []byte{stNotReady}, nil
	}
	e := encoder{}
	e.Byte(stOK)
	leaves := make([]uint64, 0, a.geo.fan())
	for _, b := range bs {
		leaves = t.branchLeaves(a.geo, leaves[:0], b)
		e.sparse(leaves, a.geo.fan())
	}
	return e.B, nil
}

func (a *AntiEntropy) serveRanges(ctx context.Context, d *decoder) ([]byte, error) {
	p := d.int(len(a.trees))
	n := d.count(16)
	plo, phi := a.geo.partRange(p)
	spans := make([]span, n)
	for i := range spans {
		spans[i] = span{lo: d.Fixed64(), hi: d.Fixed64(), seg: -1}
		if d.Err == nil && (spans[i].lo > spans[i].hi || spans[i].lo < plo || spans[i].hi > phi) {
			d.Fail("range outside the partition")
		}
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	e := encoder{}
	e.Byte(stOK)
	for _, sp := range spans {
		// A whole segment: compare the scan with the leaf to catch drift.
		s := a.geo.segment(sp.lo)
		slo, shi := a.geo.segRange(p, s)
		whole := slo == sp.lo && shi == sp.hi
		var before uint64
		if whole {
			before, _ = a.trees[p].leaf(s)
		}
		sum, err := a.summarize(ctx, sp.lo, sp.hi)
		if err != nil {
			return nil, err
		}
		if whole {
			a.checkLeaf(p, s, before, sum.xor)
		}
		if sum.split {
			e.Byte(formSplit)
			e.sparse(sum.subs[:], splitWays)
			continue
		}
		e.Byte(formList)
		e.int(len(sum.list))
		for _, en := range sum.list {
			e.Fixed64(en.h)
			e.Fixed64(en.ih)
		}
	}
	return e.B, nil
}

func (a *AntiEntropy) serveSync(ctx context.Context, d *decoder) ([]byte, error) {
	p := d.int(len(a.trees))
	n := d.count(9)
	type item struct {
		h    uint64
		objs []object
	}
	items := make([]item, n)
	for i := range items {
		h := d.Fixed64()
		if d.Err == nil && a.geo.partition(h) != p {
			d.Fail("hash outside the partition")
		}
		m := d.count(3)
		objs := make([]object, 0, m)
		for range m {
			k, c := d.object()
			if d.Err == nil && k.Hash != h {
				d.Fail("object under another hash")
			}
			objs = append(objs, object{k, c})
		}
		items[i] = item{h, objs}
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	// Items are answered in order until the reply outgrows maxReplyBytes;
	// the rest are neither merged nor answered, and the requester sends
	// them again.
	// The objects to send back are read first and the reply encoded
	// once, at its size.
	var backs [][]object
	size := 0
	for _, it := range items {
		if len(backs) > 0 && size >= maxReplyBytes {
			break
		}
		sent := make(map[storage.Key]uint64, len(it.objs))
		for _, o := range it.objs {
			if err := a.local.MergeLocal(o.k, o.c); err != nil {
				return nil, err
			}
			sent[o.k] = versioning.Digest(o.c)
		}
		var back []object
		err := a.scan(ctx, it.h, it.h, func(k storage.Key, c versioning.Clock) error {
			if dg, ok := sent[k]; !ok || dg != versioning.Digest(c) {
				back = append(back, object{k, c})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		size += objectsSize(back)
		backs = append(backs, back)
	}
	e := encoder{wire.Encoder{B: make([]byte, 0, 1+binary.MaxVarintLen64+size)}}
	e.Byte(stOK)
	e.int(len(backs))
	for _, back := range backs {
		e.objects(back)
	}
	return e.B, nil
}

// keyIn reads (bucket, key) and checks that the key belongs to partition p.
func (d *decoder) keyIn(g geometry, p int) storage.Key {
	bucket, key := d.Str(), d.Str()
	k := storage.Key{Hash: ring.Hash(bucket, key), Bucket: bucket, Key: key}
	if d.Err == nil && g.partition(k.Hash) != p {
		d.Fail("key outside the partition")
	}
	return k
}

func (a *AntiEntropy) serveDigests(d *decoder) ([]byte, error) {
	p := d.int(len(a.trees))
	n := d.count(2)
	keys := make([]storage.Key, n)
	for i := range keys {
		keys[i] = d.keyIn(a.geo, p)
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	e := encoder{}
	e.Byte(stOK)
	for _, k := range keys {
		c, found, err := a.local.ReadLocal(k)
		if err != nil {
			return nil, err
		}
		if !found {
			e.Byte(0)
			continue
		}
		e.Byte(1)
		e.Fixed64(versioning.Digest(c))
	}
	return e.B, nil
}

func (a *AntiEntropy) serveReap(d *decoder) ([]byte, error) {
	p := d.int(len(a.trees))
	n := d.count(10)
	type target struct {
		k storage.Key
		d uint64
	}
	ts := make([]target, n)
	for i := range ts {
		ts[i].k = d.keyIn(a.geo, p)
		ts[i].d = d.Fixed64()
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	e := encoder{}
	e.Byte(stOK)
	for _, t := range ts {
		reaped, err := a.reapLocal(t.k, t.d)
		if err != nil {
			return nil, err
		}
		e.Byte(uint8(b2i(reaped)))
	}
	return e.B, nil
}

// reapLocal deletes k here if it is still the tombstone (or expired
// value) with digest dg.
// The tombstone check guards against a confused peer; ReapLocal rechecks
// the digest under the key's lock.
func (a *AntiEntropy) reapLocal(k storage.Key, dg uint64) (bool, error) {
	c, found, err := a.local.ReadLocal(k)
	if err != nil || !found || !versioning.IsTombstoneAt(c, a.cfg.Now().UnixNano()) || versioning.Digest(c) != dg {
		return false, err
	}
	reaped, err := a.local.ReapLocal(k, dg)
	if reaped {
		a.m.reaped.Inc()
		a.statusMu.Lock()
		a.totals.reaped++
		a.statusMu.Unlock()
	}
	return reaped, err
}
