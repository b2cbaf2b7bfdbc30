package antientropy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"time"

	"github.com/dynamod/dynamod/internal/wire"
	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// Batch limits of the messages an exchange sends.
const (
	maxRootsPerCall  = 4096
	maxRangesPerCall = 256
	maxSyncItems     = 512
	maxSyncBytes     = 1 << 20
	// maxReplyBytes is where a sync reply stops answering further items.
	maxReplyBytes = 8 << 20
)

// Stats describes one exchange: of one partition ([AntiEntropy.Exchange])
// or of every partition shared with a peer ([AntiEntropy.ExchangePeer]).
type Stats struct {
	// Partitions compared, and those whose roots differed.
	Partitions          int `json:"partitions"`
	DifferingPartitions int `json:"differing_partitions"`
	// Segments is the number of leaves that differed.
	Segments int `json:"segments"`
	// Keys is the number of distinct key hashes whose state differed.
	Keys int `json:"keys"`
	// Pushed objects were sent to the peer; Pulled ones came back and were
	// merged here.
	Pushed int `json:"pushed"`
	Pulled int `json:"pulled"`
	// Message bytes (bodies, without transport framing) and round trips.
	BytesSent     int64         `json:"bytes_sent"`
	BytesReceived int64         `json:"bytes_received"`
	Rounds        int           `json:"rounds"`
	Duration      time.Duration `json:"duration"`
}

// Exchange compares partition p with peer and repairs both sides: roots,
// then the differing branches, then their leaves, then hash ranges of the
// differing leaves (split further while they are large), then the objects
// of the differing keys, which are merged with Sync on both sides (ours are
// sent with the request, theirs come back in the reply). It holds no lock
// across a network call; a peer that fails or dies mid-way makes it return
// an error within Config.CallTimeout, leaving every key merged so far
// merged and nothing else changed. It fails with [ErrNotReady] when either
// tree is not built yet.
func (a *AntiEntropy) Exchange(ctx context.Context, p int, peer string) (Stats, error) {
	start := time.Now()
	st := Stats{Partitions: 1}
	err := a.exchange(ctx, p, peer, &st)
	st.Duration = time.Since(start)
	a.record(peer, st, err)
	return st, err
}

// ExchangePeer runs one exchange round with peer: the roots of every
// partition both replicate (among the first NVal of its walk) and this
// node has built travel in one message per 4096 partitions, and each
// partition whose roots differ is then exchanged as by Exchange.
// Partitions the peer has not built yet are skipped. It stops at the first
// failure.
func (a *AntiEntropy) ExchangePeer(ctx context.Context, peer string) (Stats, error) {
	start := time.Now()
	var st Stats
	err := a.exchangePeer(ctx, peer, &st)
	st.Duration = time.Since(start)
	a.record(peer, st, err)
	return st, err
}

func (a *AntiEntropy) exchangePeer(ctx context.Context, peer string, st *Stats) error {
	r := a.members.Ring()
	if r.Partitions() != len(a.trees) {
		return fmt.Errorf("%w: the ring has %d partitions, the trees %d", ErrMismatch, r.Partitions(), len(a.trees))
	}
	var parts []int
	var roots []uint64
	for p := range a.trees {
		pl := r.Preflist(p, a.cfg.NVal)
		if !slices.Contains(pl, a.cfg.Self) || !slices.Contains(pl, peer) {
			continue
		}
		if snap := a.trees[p].snapshot(); snap.built {
			parts = append(parts, p)
			roots = append(roots, snap.root)
		}
	}
	var differ []int
	for lo := 0; lo < len(parts); lo += maxRootsPerCall {
		hi := min(lo+maxRootsPerCall, len(parts))
		e := encoder{}
		e.header(a.geo)
		e.int(hi - lo)
		for i := lo; i < hi; i++ {
			e.int(parts[i])
			e.Fixed64(roots[i])
		}
		d, err := a.call(ctx, peer, KindRoots, e.B, st)
		if err != nil {
			return err
		}
		n := hi - lo
		bd, bn := d.raw((n+7)/8), d.raw((n+7)/8)
		if err := d.End(); err != nil {
			return err
		}
		st.Partitions += n
		for i := range n {
			if bitSet(bd, i) && !bitSet(bn, i) {
				differ = append(differ, parts[lo+i])
			}
		}
	}
	for _, p := range differ {
		if err := a.exchange(ctx, p, peer, st); err != nil && !errors.Is(err, ErrNotReady) {
			return err
		}
	}
	return nil
}

// call sends one request, paced by the rate limit and bounded by
// CallTimeout, and returns a decoder positioned after an OK status.
func (a *AntiEntropy) call(ctx context.Context, peer string, kind uint8, body []byte, st *Stats) (*decoder, error) {
	if err := a.lim.Wait(ctx, len(body)); err != nil {
		return nil, fmt.Errorf("antientropy: %s to %s: %w", KindName(kind), peer, err)
	}
	cctx, cancel := context.WithTimeout(ctx, a.cfg.CallTimeout)
	defer cancel()
	resp, err := a.tr.Call(cctx, peer, kind, body)
	st.Rounds++
	st.BytesSent += int64(len(body))
	if err != nil {
		return nil, fmt.Errorf("antientropy: %s to %s: %w", KindName(kind), peer, err)
	}
	st.BytesReceived += int64(len(resp))
	a.lim.Charge(len(resp))
	d := ptrDecoder(resp)
	if err := d.status(peer); err != nil {
		return nil, fmt.Errorf("antientropy: %s to %s: %w", KindName(kind), peer, err)
	}
	return d, nil
}

func (a *AntiEntropy) exchange(ctx context.Context, p int, peer string, st *Stats) error {
	if p < 0 || p >= len(a.trees) {
		return fmt.Errorf("antientropy: partition %d out of range [0, %d)", p, len(a.trees))
	}
	snap := a.trees[p].snapshot()
	if !snap.built {
		return fmt.Errorf("%w: partition %d here", ErrNotReady, p)
	}
	e := encoder{}
	e.header(a.geo)
	e.int(p)
	e.Fixed64(snap.root)
	d, err := a.call(ctx, peer, KindBranches, e.B, st)
	if err != nil {
		return err
	}
	same := d.Byte()
	var theirs []uint64
	if same == 0 {
		theirs = d.sparse(a.geo.branches())
	}
	if err := d.End(); err != nil {
		return err
	}
	if same != 0 {
		return nil
	}
	st.DifferingPartitions++
	var branches []int
	for b := range a.geo.branches() {
		if at(snap.branches, b) != at(theirs, b) {
			branches = append(branches, b)
		}
	}
	if len(branches) == 0 {
		return nil
	}
	spans, err := a.diffLeaves(ctx, p, peer, branches, st)
	if err != nil {
		return err
	}
	st.Segments += len(spans)
	a.m.segments.Add(float64(len(spans)))
	hashes, err := a.descend(ctx, p, peer, spans, st)
	if err != nil {
		return err
	}
	st.Keys += len(hashes)
	return a.syncHashes(ctx, p, peer, hashes, st)
}

// span is a hash range to compare. seg >= 0 marks a whole segment, whose
// leaf was before when the leaves were compared.
type span struct {
	lo, hi uint64
	seg    int
	before uint64
}

// diffLeaves fetches the peer's leaves under branches and returns the
// segments that differ from ours.
func (a *AntiEntropy) diffLeaves(ctx context.Context, p int, peer string, branches []int, st *Stats) ([]span, error) {
	e := encoder{}
	e.header(a.geo)
	e.int(p)
	e.int(len(branches))
	for _, b := range branches {
		e.int(b)
	}
	d, err := a.call(ctx, peer, KindLeaves, e.B, st)
	if err != nil {
		return nil, err
	}
	fan := a.geo.fan()
	var spans []span
	mine := make([]uint64, 0, fan)
	for _, b := range branches {
		theirs := d.sparse(fan)
		mine = a.trees[p].branchLeaves(a.geo, mine[:0], b)
		for j := range fan {
			if mine[j] != at(theirs, j) {
				s := b<<a.geo.fbits + j
				lo, hi := a.geo.segRange(p, s)
				spans = append(spans, span{lo: lo, hi: hi, seg: s, before: mine[j]})
			}
		}
	}
	return spans, d.End()
}

// descend compares ranges with the peer level by level and returns the
// hashes whose entries differ.
func (a *AntiEntropy) descend(ctx context.Context, p int, peer string, level []span, st *Stats) ([]uint64, error) {
	var diff []uint64
	for depth := 0; len(level) > 0; depth++ {
		if depth > maxDepth {
			return nil, fmt.Errorf("%w: descent deeper than %d levels", ErrMalformed, maxDepth)
		}
		var next []span
		for lo := 0; lo < len(level); lo += maxRangesPerCall {
			batch := level[lo:min(lo+maxRangesPerCall, len(level))]
			var err error
			if diff, next, err = a.compareRanges(ctx, p, peer, batch, diff, next, st); err != nil {
				return nil, err
			}
		}
		level = next
	}
	return diff, nil
}

func (a *AntiEntropy) compareRanges(ctx context.Context, p int, peer string, batch []span, diff []uint64, next []span, st *Stats) ([]uint64, []span, error) {
	e := encoder{}
	e.header(a.geo)
	e.int(p)
	e.int(len(batch))
	for _, sp := range batch {
		e.Fixed64(sp.lo)
		e.Fixed64(sp.hi)
	}
	d, err := a.call(ctx, peer, KindRanges, e.B, st)
	if err != nil {
		return nil, nil, err
	}
	for _, sp := range batch {
		mine, xor, err := a.entries(ctx, sp.lo, sp.hi)
		if err != nil {
			return nil, nil, err
		}
		if sp.seg >= 0 {
			a.checkLeaf(p, sp.seg, sp.before, xor)
		}
		switch form := d.Byte(); form {
		case formList:
			m := d.count(16)
			theirs := make([]entry, 0, m)
			for range m {
				en := entry{h: d.Fixed64(), ih: d.Fixed64()}
				if d.Err == nil && (en.h < sp.lo || en.h > sp.hi || (len(theirs) > 0 && en.h <= theirs[len(theirs)-1].h)) {
					d.Fail("list entry out of order or range")
				}
				theirs = append(theirs, en)
			}
			diff = appendDiff(diff, mine, theirs)
		case formSplit:
			w, ok := splitWidth(sp.lo, sp.hi)
			if !ok {
				d.Fail("split of a range too narrow to split")
				break
			}
			theirs := d.sparse(splitWays)
			subs := subHashes(mine, sp.lo, w)
			for j := range splitWays {
				if subs[j] == at(theirs, j) {
					continue
				}
				if slo, shi, ok := subRange(sp.lo, sp.hi, w, j); ok {
					next = append(next, span{lo: slo, hi: shi, seg: -1})
				}
			}
		default:
			d.Fail(fmt.Sprintf("range form %d", form))
		}
		if d.Err != nil {
			return nil, nil, d.Err
		}
	}
	return diff, next, d.End()
}

// syncHashes sends our objects of every hash in hashes to the peer, which
// merges them and answers with its own objects there that differ from
// what we sent; those are merged here. A peer whose reply grows large
// answers only the first items; the others are sent again.
func (a *AntiEntropy) syncHashes(ctx context.Context, p int, peer string, hashes []uint64, st *Stats) error {
	for len(hashes) > 0 {
		// The items that fit are read first and the request encoded once,
		// at its size: a large object is not copied from a scratch buffer
		// into the items and from them into the request.
		var items [][]object
		size := 0
		for len(items) < len(hashes) && len(items) < maxSyncItems && size < maxSyncBytes {
			h := hashes[len(items)]
			var objs []object
			err := a.scan(ctx, h, h, func(k storage.Key, c versioning.Clock) error {
				objs = append(objs, object{k, c})
				return nil
			})
			if err != nil {
				return err
			}
			size += 8 + objectsSize(objs)
			items = append(items, objs)
		}
		n := len(items)
		pushes := make([]int, n) // objects sent per item
		e := encoder{wire.Encoder{B: make([]byte, 0, 4*binary.MaxVarintLen64+size)}}
		e.header(a.geo)
		e.int(p)
		e.int(n)
		for i, objs := range items {
			e.Fixed64(hashes[i])
			e.objects(objs)
			pushes[i] = len(objs)
		}
		items = nil
		d, err := a.call(ctx, peer, KindSync, e.B, st)
		if err != nil {
			return err
		}
		answered := d.int(n + 1)
		if d.Err == nil && answered == 0 && n > 0 {
			d.Fail("sync reply answers no item")
		}
		var in []object
		for i := range answered {
			st.Pushed += pushes[i]
			m := d.count(3)
			for range m {
				k, c := d.object()
				if d.Err == nil && k.Hash != hashes[i] {
					d.Fail("object under another hash")
				}
				in = append(in, object{k, c})
			}
		}
		if err := d.End(); err != nil {
			return err
		}
		for _, o := range in {
			if err := a.local.MergeLocal(o.k, o.c); err != nil {
				return fmt.Errorf("antientropy: merge %s from %s: %w", o.k, peer, err)
			}
			st.Pulled++
		}
		hashes = hashes[answered:]
	}
	return nil
}

type object struct {
	k storage.Key
	c versioning.Clock
}

// objectsSize is the length of e.objects(objs).
func objectsSize(objs []object) int {
	n := uvarintLen(uint64(len(objs)))
	for _, o := range objs {
		size := storage.ObjectSize(o.c)
		n += uvarintLen(uint64(len(o.k.Bucket))) + len(o.k.Bucket) + uvarintLen(uint64(len(o.k.Key))) + len(o.k.Key) +
			uvarintLen(uint64(size)) + size
	}
	return n
}

// objects writes a count and each (bucket, key, object), encoding the
// objects in place.
func (e *encoder) objects(objs []object) {
	e.int(len(objs))
	for _, o := range objs {
		e.Str(o.k.Bucket)
		e.Str(o.k.Key)
		e.Uvarint(uint64(storage.ObjectSize(o.c)))
		e.B = storage.AppendObject(e.B, o.c)
	}
}

func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// object reads (bucket, key, object) and derives the key's hash.
func (d *decoder) object() (storage.Key, versioning.Clock) {
	bucket, key, raw := d.Str(), d.Str(), d.Bytes()
	if d.Err != nil {
		return storage.Key{}, versioning.Clock{}
	}
	c, err := storage.DecodeObject(raw)
	if err != nil {
		d.Fail(err.Error())
		return storage.Key{}, versioning.Clock{}
	}
	return storage.Key{Hash: ring.Hash(bucket, key), Bucket: bucket, Key: key}, c
}

// record accounts for an exchange in the metrics and the peer's status.
func (a *AntiEntropy) record(peer string, st Stats, err error) {
	result := "equal"
	switch {
	case errors.Is(err, ErrNotReady):
		result = "not_ready"
	case err != nil:
		result = "failed"
	case st.Pushed+st.Pulled > 0:
		result = "repaired"
	case st.DifferingPartitions > 0:
		result = "differed"
	}
	a.m.exchanges.WithLabelValues(result).Inc()
	a.m.duration.Observe(st.Duration.Seconds())
	a.m.keys.WithLabelValues("pushed").Add(float64(st.Pushed))
	a.m.keys.WithLabelValues("pulled").Add(float64(st.Pulled))
	a.m.bytes.WithLabelValues("sent").Add(float64(st.BytesSent))
	a.m.bytes.WithLabelValues("received").Add(float64(st.BytesReceived))

	a.statusMu.Lock()
	defer a.statusMu.Unlock()
	ps := a.peers[peer]
	if ps == nil {
		ps = &PeerStatus{Peer: peer}
		a.peers[peer] = ps
	}
	ps.LastExchange = a.cfg.Now()
	ps.LastError = ""
	if err != nil {
		ps.LastError = err.Error()
		a.totals.failures++
	}
	ps.Partitions, ps.DifferingPartitions = st.Partitions, st.DifferingPartitions
	ps.DifferingSegments, ps.DifferingKeys = st.Segments, st.Keys
	ps.Exchanges++
	a.totals.exchanges++
	a.totals.pushed += uint64(st.Pushed)
	a.totals.pulled += uint64(st.Pulled)
	a.totals.sent += uint64(st.BytesSent)
	a.totals.received += uint64(st.BytesReceived)
}
