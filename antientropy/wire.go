package antientropy

import (
	"encoding/binary"
	"fmt"
	"math/bits"
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

type encoder struct{ b []byte }

func (e *encoder) byte(v uint8)     { e.b = append(e.b, v) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int)        { e.uvarint(uint64(v)) }
func (e *encoder) fixed64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) str(v string)     { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }

func (e *encoder) sparse(vs []uint64, n int) {
	start := len(e.b)
	e.b = append(e.b, make([]byte, (n+7)/8)...)
	for i := range n {
		if v := at(vs, i); v != 0 {
			e.b[start+i/8] |= 1 << (i % 8)
			e.fixed64(v)
		}
	}
}

func (e *encoder) header(g geometry) {
	e.byte(protoVersion)
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

// decoder reads what encoder wrote. The first error sticks; every read after
// it returns zero values, so a reader checks err once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
	d.b = nil
}

func (d *decoder) byte() uint8 {
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// int reads a uvarint that must be < limit.
func (d *decoder) int(limit int) int {
	v := d.uvarint()
	if d.err == nil && v >= uint64(limit) {
		d.fail(fmt.Sprintf("%d out of range [0, %d)", v, limit))
		return 0
	}
	return int(v)
}

// count reads an item count; each item takes at least minSize bytes, so a
// count the rest of the message cannot hold is rejected before allocating.
func (d *decoder) count(minSize int) int {
	v := d.uvarint()
	if d.err == nil && (v > maxItems || v*uint64(minSize) > uint64(len(d.b))) {
		d.fail(fmt.Sprintf("count %d too large for %d bytes", v, len(d.b)))
		return 0
	}
	return int(v)
}

func (d *decoder) fixed64() uint64 {
	if len(d.b) < 8 {
		d.fail("truncated")
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.fail("truncated")
	}
	if d.err != nil {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) raw(n int) []byte {
	if len(d.b) < n {
		d.fail("truncated")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// sparse reads a sparse vector of n values (nil when all are zero).
func (d *decoder) sparse(n int) []uint64 {
	bm := d.raw((n + 7) / 8)
	if d.err != nil {
		return nil
	}
	ones := 0
	for i, x := range bm {
		if i == len(bm)-1 && n%8 != 0 && x>>(n%8) != 0 {
			d.fail("bits set past the vector's end")
			return nil
		}
		ones += bits.OnesCount8(x)
	}
	if ones == 0 {
		return nil
	}
	if len(d.b) < 8*ones {
		d.fail("truncated")
		return nil
	}
	vs := make([]uint64, n)
	for i := range n {
		if bm[i/8]&(1<<(i%8)) != 0 {
			if vs[i] = d.fixed64(); vs[i] == 0 {
				d.fail("zero value marked present")
				return nil
			}
		}
	}
	return vs
}

func bitSet(bm []byte, i int) bool { return bm[i/8]&(1<<(i%8)) != 0 }

func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d trailing bytes", len(d.b)))
	}
	return d.err
}

// header checks a request header against g; it returns a mismatch reply to
// send instead of serving, or nil.
func (d *decoder) header(g geometry) []byte {
	v := d.byte()
	q := d.uvarint()
	s := d.uvarint()
	if d.err != nil || (v == protoVersion && q == uint64(g.partitions()) && s == uint64(g.segments())) {
		return nil
	}
	return mismatchReply(g)
}

func mismatchReply(g geometry) []byte {
	e := encoder{}
	e.byte(stMismatch)
	e.header(g)
	return e.b
}

// status reads a reply's status byte and turns the not-ready and mismatch
// replies into errors.
func (d *decoder) status(peer string) error {
	switch st := d.byte(); {
	case d.err != nil:
		return d.err
	case st == stOK:
		return nil
	case st == stNotReady:
		return fmt.Errorf("%w on %s", ErrNotReady, peer)
	case st == stMismatch:
		v, q, s := d.byte(), d.uvarint(), d.uvarint()
		return fmt.Errorf("%w: %s speaks version %d with %d partitions of %d segments", ErrMismatch, peer, v, q, s)
	default:
		return fmt.Errorf("%w: status %d", ErrMalformed, st)
	}
}
