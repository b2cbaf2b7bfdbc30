package antientropy

import (
	"fmt"
	"math/bits"

	"github.com/dynamod/dynamod/internal/wire"
)

// Message kinds, KindBase+i. The node routes every kind >= KindBase to
// [AntiEntropy.Serve].
const (
	// KindBase is the first kind anti-entropy uses; kinds below belong to
	// the quorum layer.
	KindBase uint8 = 32
)

// The kinds of anti-entropy messages.
const (
	KindRoots    = KindBase + iota // roots of many partitions: which differ
	KindBranches                   // one partition's root, then its branches
	KindLeaves                     // the leaves under some branches
	KindRanges                     // summaries of hash ranges: (hash, item hash) lists or splits
	KindSync                       // objects to merge both ways
	KindDigests                    // reaper: each replica's digest of some keys
	KindReap                       // reaper: delete tombstones that still have a digest
	kindEnd
)

// KindName names a message kind for logs, metrics and test hooks.
func KindName(k uint8) string {
	switch k {
	case KindRoots:
		return "ae_roots"
	case KindBranches:
		return "ae_branches"
	case KindLeaves:
		return "ae_leaves"
	case KindRanges:
		return "ae_ranges"
	case KindSync:
		return "ae_sync"
	case KindDigests:
		return "ae_digests"
	case KindReap:
		return "ae_reap"
	}
	return fmt.Sprintf("kind%d", k)
}

// Wire format, version 1. Integers are uvarints unless marked fixed64 (8
// bytes big endian); strings and byte strings are uvarint length + bytes;
// a "sparse n" vector of uint64 is a bitmap of ceil(n/8) bytes (bit i%8 of
// byte i/8 set when value i is not zero) followed by the non-zero values as
// fixed64, so empty parts of a tree cost one bit each.
//
// Every request starts with the header: version byte (1), Q (partitions), S
// (segments per partition). Every other field of a request and its
// response, after the status byte:
//
//	Roots     req: n, n × (partition, root fixed64)
//	          resp: bitmap n "differ", bitmap n "not ready"
//	Branches  req: partition, root fixed64
//	          resp: byte 1 (roots equal) | byte 0, sparse B branches
//	Leaves    req: partition, n, n × branch
//	          resp: n × sparse F leaves (F = S/B)
//	Ranges    req: partition, n, n × (lo fixed64, hi fixed64)
//	          resp: n × (byte 1, m, m × (hash fixed64, item hash fixed64))  list
//	                  | (byte 2, sparse 16 sub-range hashes)                split
//	Sync      req: partition, n, n × (hash fixed64, m, m × (bucket, key, object))
//	          resp: a (≤ n items answered), a × (m, m × (bucket, key, object))
//	Digests   req: partition, n, n × (bucket, key)
//	          resp: n × (byte 0 | byte 1, digest fixed64)
//	Reap      req: partition, n, n × (bucket, key, digest fixed64)
//	          resp: n × byte reaped
//
// Objects are storage.AppendObject encodings. A list holds one entry per
// distinct hash, the item hashes of keys sharing a hash XORed together.
// Status bytes: 1 ok, 2 not ready (tree not built), 3 mismatch (followed by
// the peer's version, Q and S).
const protoVersion = 1

const (
	stOK uint8 = 1 + iota
	stNotReady
	stMismatch
)

const (
	formList  = 1
	formSplit = 2
)

// maxItems bounds every count in a request a server accepts.
const maxItems = 1 << 16

// encoder and decoder are the shared wire primitives plus this protocol's
// trees and headers.
type encoder struct{ wire.Encoder }

func (e *encoder) int(v int) { e.Uvarint(uint64(v)) }

func (e *encoder) sparse(vs []uint64, n int) {
	start := len(e.B)
	e.B = append(e.B, make([]byte, (n+7)/8)...)
	for i := range n {
		if v := at(vs, i); v != 0 {
			e.B[start+i/8] |= 1 << (i % 8)
			e.Fixed64(v)
		}
	}
}

func (e *encoder) header(g geometry) {
	e.Byte(protoVersion)
	e.int(g.partitions())
	e.int(g.segments())
}

func bitmap(n int, set func(int) bool) []byte {
	b := make([]byte, (n+7)/8)
	for i := range n {
		if set(i) {
			b[i/8] |= 1 << (i % 8)
		}
	}
	return b
}

// decoder reads what encoder wrote; failures wrap ErrMalformed.
type decoder struct{ wire.Decoder }

func newDecoder(b []byte) decoder { return decoder{wire.Decoder{B: b, Malformed: ErrMalformed}} }

func ptrDecoder(b []byte) *decoder { d := newDecoder(b); return &d }

// int reads a uvarint that must be < limit.
func (d *decoder) int(limit int) int {
	v := d.Uvarint()
	if d.Err == nil && v >= uint64(limit) {
		d.Fail(fmt.Sprintf("%d out of range [0, %d)", v, limit))
		return 0
	}
	return int(v)
}

// count reads an item count; each item takes at least minSize bytes, so a
// count the rest of the message cannot hold is rejected before allocating.
func (d *decoder) count(minSize int) int {
	v := d.Uvarint()
	if d.Err == nil && (v > maxItems || v*uint64(minSize) > uint64(len(d.B))) {
		d.Fail(fmt.Sprintf("count %d too large for %d bytes", v, len(d.B)))
		return 0
	}
	return int(v)
}

func (d *decoder) raw(n int) []byte {
	if len(d.B) < n {
		d.Fail("truncated")
		return nil
	}
	v := d.B[:n:n]
	d.B = d.B[n:]
	return v
}

// sparse reads a sparse vector of n values (nil when all are zero).
func (d *decoder) sparse(n int) []uint64 {
	bm := d.raw((n + 7) / 8)
	if d.Err != nil {
		return nil
	}
	ones := 0
	for i, x := range bm {
		if i == len(bm)-1 && n%8 != 0 && x>>(n%8) != 0 {
			d.Fail("bits set past the vector's end")
			return nil
		}
		ones += bits.OnesCount8(x)
	}
	if ones == 0 {
		return nil
	}
	if len(d.B) < 8*ones {
		d.Fail("truncated")
		return nil
	}
	vs := make([]uint64, n)
	for i := range n {
		if bm[i/8]&(1<<(i%8)) != 0 {
			if vs[i] = d.Fixed64(); vs[i] == 0 {
				d.Fail("zero value marked present")
				return nil
			}
		}
	}
	return vs
}

func bitSet(bm []byte, i int) bool { return bm[i/8]&(1<<(i%8)) != 0 }

// header checks a request header against g; it returns a mismatch reply to
// send instead of serving, or nil.
func (d *decoder) header(g geometry) []byte {
	v := d.Byte()
	q := d.Uvarint()
	s := d.Uvarint()
	if d.Err != nil || (v == protoVersion && q == uint64(g.partitions()) && s == uint64(g.segments())) {
		return nil
	}
	return mismatchReply(g)
}

func mismatchReply(g geometry) []byte {
	e := encoder{}
	e.Byte(stMismatch)
	e.header(g)
	return e.B
}

// status reads a reply's status byte and turns the not-ready and mismatch
// replies into errors.
func (d *decoder) status(peer string) error {
	switch st := d.Byte(); {
	case d.Err != nil:
		return d.Err
	case st == stOK:
		return nil
	case st == stNotReady:
		return fmt.Errorf("%w on %s", ErrNotReady, peer)
	case st == stMismatch:
		v, q, s := d.Byte(), d.Uvarint(), d.Uvarint()
		return fmt.Errorf("%w: %s speaks version %d with %d partitions of %d segments", ErrMismatch, peer, v, q, s)
	default:
		return fmt.Errorf("%w: status %d", ErrMalformed, st)
	}
}
