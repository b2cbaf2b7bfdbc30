package antientropy

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// Tree shape. A partition's hash range is cut into S equal segments (the
// leaves); leaf s is the XOR of itemHash over the keys whose hash falls in
// segment s. Leaves are grouped, fan at a time, into B = S/fan branches
// (each the XOR of its leaves) and the root is the XOR of the branches.
// XOR makes every level linear: a change of one key XORs the same delta
// into one leaf, one branch and the root, whatever the order of changes.
//
// Below the leaves nothing is stored: during an exchange a differing
// segment is summarised by scanning its hash range, and split splitWays
// ways again while it holds more than listMax distinct hashes (see
// summarize), so wire bytes do not depend on how full a segment is.

// geometry maps hashes to partitions and segments. Both sides of an
// exchange must use the same one; messages carry Q and S to check it.
type geometry struct {
	qbits uint // log2(partitions)
	sbits uint // log2(segments)
	fbits uint // log2(leaves per branch)
}

func newGeometry(partitions, segments int) geometry {
	g := geometry{
		qbits: uint(bits.TrailingZeros(uint(partitions))),
		sbits: uint(bits.TrailingZeros(uint(segments))),
	}
	g.fbits = g.sbits / 2 // branches = 2^(sbits - sbits/2) >= leaves per branch
	return g
}

func (g geometry) partitions() int { return 1 << g.qbits }
func (g geometry) segments() int   { return 1 << g.sbits }
func (g geometry) fan() int        { return 1 << g.fbits }
func (g geometry) branches() int   { return 1 << (g.sbits - g.fbits) }

// partition returns the partition of hash h (its top qbits bits, as
// ring.Partition does). A shift by 64 gives 0, so one partition works.
func (g geometry) partition(h uint64) int { return int(h >> (64 - g.qbits)) }

// segment returns h's segment within its partition: the sbits bits below
// the partition bits.
func (g geometry) segment(h uint64) int { return int((h << g.qbits) >> (64 - g.sbits)) }

// partRange returns the inclusive hash range of partition p.
func (g geometry) partRange(p int) (lo, hi uint64) {
	w := uint64(1)<<(64-g.qbits) - 1 // 1<<64 is 0: w = MaxUint64 for one partition
	lo = uint64(p) << (64 - g.qbits)
	return lo, lo + w
}

// segRange returns the inclusive hash range of segment s of partition p.
func (g geometry) segRange(p, s int) (lo, hi uint64) {
	shift := 64 - g.qbits - g.sbits
	plo, _ := g.partRange(p)
	lo = plo + uint64(s)<<shift
	return lo, lo + (uint64(1)<<shift - 1)
}

// keyState is what the tree knows of one key: its item hash (0 when
// absent) and whether it is a tombstone.
type keyState struct {
	ih      uint64
	present bool
	tomb    bool
}

func stateOf(k storage.Key, c versioning.Clock) keyState {
	if len(c.Entries) == 0 && len(c.Anon) == 0 {
		return keyState{} // the zero clock means absent
	}
	return keyState{ih: itemHash(k.Bucket, k.Key, versioning.Digest(c)), present: true, tomb: versioning.IsTombstone(c)}
}

// itemHash is a key's contribution to its leaf: xxhash64 over
// uvarint(len(bucket)) | bucket | key | digest (8 bytes, big endian), the
// digest being versioning.Digest of the key's clock. Every node must compute
// the same value; a golden test pins it. An absent key contributes 0.
func itemHash(bucket, key string, digest uint64) uint64 {
	var d xxhash.Digest
	var n [binary.MaxVarintLen64]byte
	d.Reset()
	_, _ = d.Write(n[:binary.PutUvarint(n[:], uint64(len(bucket)))])
	_, _ = d.WriteString(bucket)
	_, _ = d.WriteString(key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], digest)
	_, _ = d.Write(b[:])
	return d.Sum64()
}

// tree is one partition's Merkle tree and its bookkeeping.
type tree struct {
	// mu guards every field below. It is held only for in-memory work:
	// never across I/O, and OnChange takes it once per change.
	mu sync.Mutex
	// built is set once the start-up build of the partition finished;
	// before that the tree takes no part in exchanges.
	built bool
	// leaves and branches are nil while every hash is zero, else of length
	// geometry.segments() and geometry.branches().
	leaves   []uint64
	branches []uint64
	root     uint64
	// keys and tombs count the partition's objects and tombstones. They are
	// exact after a full build and kept by OnChange; a segment repair does
	// not recount them (the next full rebuild does).
	keys, tombs int
	// rebuilds are the scans in progress over (part of) this partition;
	// OnChange records every change in their range.
	rebuilds []*rebuild
	// next is when the partition's next scheduled rebuild is due.
	next time.Time
}

// treeBytes is what one allocated tree costs beyond the tree struct.
func (g geometry) treeBytes() int64 { return int64(8 * (g.segments() + g.branches())) }

// xorLocked XORs d into leaf s and the levels above it. It reports whether
// it allocated the tree's arrays.
func (t *tree) xorLocked(g geometry, s int, d uint64) (alloc bool) {
	if d == 0 {
		return false
	}
	if t.leaves == nil {
		t.leaves = make([]uint64, g.segments())
		t.branches = make([]uint64, g.branches())
		alloc = true
	}
	t.leaves[s] ^= d
	t.branches[s>>g.fbits] ^= d
	t.root ^= d
	return alloc
}

func (t *tree) leafLocked(s int) uint64 {
	if t.leaves == nil {
		return 0
	}
	return t.leaves[s]
}

// leaf returns leaf s and whether the tree is built.
func (t *tree) leaf(s int) (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.leafLocked(s), t.built
}

// rebuild tracks one scan of the hash range [lo, hi]: pending holds the
// last state of every key changed since the scan was registered.
type rebuild struct {
	lo, hi  uint64
	pending map[storage.Key]keyState
}

func (r *rebuild) covers(h uint64) bool { return r.lo <= h && h <= r.hi }

func (t *tree) dropRebuildLocked(r *rebuild) {
	t.rebuilds = slices.DeleteFunc(t.rebuilds, func(x *rebuild) bool { return x == r })
}

// snapshot is a copy of a tree's upper levels.
type snapshot struct {
	built    bool
	root     uint64
	branches []uint64 // nil: all zero
}

func (t *tree) snapshot() snapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	return snapshot{built: t.built, root: t.root, branches: slices.Clone(t.branches)}
}

// branchLeaves appends the leaves of branch b to dst.
func (t *tree) branchLeaves(g geometry, dst []uint64, b int) []uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.leaves == nil {
		return append(dst, make([]uint64, g.fan())...)
	}
	return append(dst, t.leaves[b<<g.fbits:(b+1)<<g.fbits]...)
}

func at(vs []uint64, i int) uint64 {
	if vs == nil {
		return 0
	}
	return vs[i]
}
