package antientropy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynamod/dynamod/internal/jitter"
	"github.com/dynamod/dynamod/internal/ratelimit"
	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// Local is this node's replica store. quorum.Coordinator implements it
// (ScanLocal, ReadLocal, MergeLocal, ReapLocal). All methods are safe for
// concurrent use and may do disk I/O; anti-entropy never calls them with
// one of its own locks held.
type Local interface {
	// ScanLocal calls fn for every object with lo <= Hash <= hi, in hash
	// order, over a consistent snapshot taken when it is called. The clock
	// is fn's to keep. An object that does not decode stops the scan with a
	// *storage.CorruptError naming it (anti-entropy then skips it, counting
	// it as absent, and resumes after it); fn's error is returned as is.
	ScanLocal(lo, hi uint64, fn func(k storage.Key, c versioning.Clock) error) error
	// ReadLocal returns the local state of k; found is false if there is
	// none (a corrupt object reads as none).
	ReadLocal(k storage.Key) (c versioning.Clock, found bool, err error)
	// MergeLocal syncs c into the local state of k (versioning.Sync) under
	// the key's write lock, persists the result if it changed, and reports
	// the change to [AntiEntropy.OnChange] before releasing the lock.
	MergeLocal(k storage.Key, c versioning.Clock) error
	// ReapLocal physically deletes k if its local state still has digest d
	// (versioning.Digest), under the key's write lock, and reports the
	// change (new = zero clock) to OnChange. It returns whether it deleted.
	ReapLocal(k storage.Key, d uint64) (bool, error)
}

// Fencer is an optional capability of a [Local]. FenceLocal returns once
// every change that was already persisted when it was called has been
// reported to OnChange (for a store with striped key locks: lock and unlock
// every stripe once). With it, a tree rebuilt while writes go on is exact;
// without it, a write whose OnChange call is delayed past a whole rebuild
// scan can leave one leaf wrong until an exchange notices the drift and
// rescans that segment (see the package doc).
type Fencer interface {
	FenceLocal()
}

// Members is this node's view of the cluster.
type Members interface {
	// Ring returns the current ring (immutable). It must not block.
	Ring() *ring.Ring
	// Alive reports whether a member answers, as far as this node knows.
	// It must not block.
	Alive(name string) bool
}

// Steadier is an optional capability of [Members]. Steady reports whether
// no partition is being handed off; while one is, holders other than the
// ring's primaries may have copies, so reaping pauses (a reaped tombstone
// could come back from a copy nobody checked). It must not block.
type Steadier interface {
	Steady() bool
}

// Transport sends a request to a peer and returns its reply. Implemented by
// transport.TCP and transport.MemEndpoint. Call blocks until the reply, an
// error, or ctx's end; it is safe for concurrent use; the caller keeps body
// and owns the returned slice.
type Transport interface {
	Call(ctx context.Context, to string, kind uint8, body []byte) ([]byte, error)
}

// Sentinel errors.
var (
	// ErrNotReady: this node's or the peer's tree of the partition is not
	// built yet; try again later.
	ErrNotReady = errors.New("antientropy: tree not built yet")
	// ErrMismatch: the peer uses another protocol version, partition count
	// or segment count.
	ErrMismatch = errors.New("antientropy: peer tree geometry differs")
	// ErrMalformed: a message that does not decode or breaks the protocol.
	ErrMalformed = errors.New("antientropy: malformed message")
	// ErrNotPrimary: this node is not a primary of the partition.
	ErrNotPrimary = errors.New("antientropy: not a primary of the partition")
)

// AntiEntropy keeps this node's Merkle trees, runs exchanges with
// co-replicas, serves theirs and reaps tombstones. Build one with [New];
// all methods are safe for concurrent use.
type AntiEntropy struct {
	cfg     Config
	local   Local
	fence   func() // nil without a Fencer
	members Members
	tr      Transport
	log     *slog.Logger
	m       *metrics
	lim     *ratelimit.Limiter
	geo     geometry
	trees   []tree // one per partition

	// rngMu guards rng, the one source of the package's random draws.
	rngMu sync.Mutex
	rng   *rand.Rand

	built     atomic.Int64 // trees built
	treeBytes atomic.Int64 // bytes of allocated leaves and branches

	// buildMu serializes full builds, so Build and the start of Run do not
	// scan the same partitions twice.
	buildMu sync.Mutex

	// suspectMu guards suspects: segments whose leaf disagreed with a scan
	// of the store, to be rescanned.
	suspectMu sync.Mutex
	suspects  map[segRef]struct{}

	// statusMu guards peers and totals.
	statusMu sync.Mutex
	peers    map[string]*PeerStatus
	totals   totals
}

type segRef struct{ p, s int }

// maxSuspects bounds the set of segments waiting for a rescan; more are
// dropped (the next exchange finds them again).
const maxSuspects = 4096

type totals struct {
	exchanges, failures, pushed, pulled, sent, received, reaped, rebuilds uint64
}

// New returns an AntiEntropy for the ring members.Ring() describes. Its
// trees are empty and take no part in exchanges until [AntiEntropy.Build]
// (or Run, which builds first) has scanned the store. Wire OnChange into
// the store before calling Build, so no write is missed.
func New(cfg Config, local Local, members Members, tr Transport) (*AntiEntropy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if local == nil || members == nil || tr == nil {
		return nil, errors.New("antientropy: local, members and transport are required")
	}
	r := members.Ring()
	if r == nil {
		return nil, errors.New("antientropy: members has no ring")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &AntiEntropy{
		cfg:      cfg,
		local:    local,
		members:  members,
		tr:       tr,
		log:      log.With("component", "antientropy", "node", cfg.Self),
		m:        newMetrics(cfg.Registry),
		lim:      ratelimit.New(cfg.MaxBytesPerSecond),
		geo:      newGeometry(r.Partitions(), cfg.Segments),
		rng:      newRand(cfg.Seed),
		trees:    make([]tree, r.Partitions()),
		suspects: make(map[segRef]struct{}),
		peers:    make(map[string]*PeerStatus),
	}
	if f, ok := local.(Fencer); ok {
		a.fence = f.FenceLocal
	}
	return a, nil
}

// OnChange updates the trees for one local change of k: old is the state
// before (the zero clock if none), new the state after (zero after a
// physical delete). The store calls it for every change (client write,
// replica merge, read repair, hint, handoff, anti-entropy repair, reap)
// with the key's write lock held, after persisting. It does no I/O and
// never blocks beyond one partition's mutex held for a few XORs; hashing
// the two clocks (versioning.Digest) is most of its cost.
func (a *AntiEntropy) OnChange(k storage.Key, old, new versioning.Clock) {
	so, sn := stateOf(k, old), stateOf(k, new)
	if so == sn {
		return
	}
	t := &a.trees[a.geo.partition(k.Hash)]
	t.mu.Lock()
	var alloc bool
	if t.built {
		alloc = t.xorLocked(a.geo, a.geo.segment(k.Hash), so.ih^sn.ih)
		t.keys += b2i(sn.present) - b2i(so.present)
		t.tombs += b2i(sn.tomb) - b2i(so.tomb)
	}
	for _, r := range t.rebuilds {
		if r.covers(k.Hash) {
			r.pending[k] = sn
		}
	}
	t.mu.Unlock()
	if alloc {
		a.m.treeBytes.Set(float64(a.treeBytes.Add(a.geo.treeBytes())))
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Build scans the store once and builds the tree of every partition not
// built yet, partition by partition; each takes part in exchanges as soon
// as it is built. Writes during the build are not lost (see
// [AntiEntropy.OnChange] and the package doc). It returns ctx's error or
// the first store error; the partitions built so far stay built.
func (a *AntiEntropy) Build(ctx context.Context) error {
	a.buildMu.Lock()
	defer a.buildMu.Unlock()
	start := time.Now()
	var n int
	for p := range a.trees {
		if err := ctx.Err(); err != nil {
			return err
		}
		if a.isBuilt(p) {
			continue
		}
		if err := a.rebuild(ctx, p, 0, a.geo.segments()-1, true); err != nil {
			return err
		}
		n++
	}
	if n > 0 {
		a.log.Info("trees built", "partitions", n, "elapsed", time.Since(start),
			"tree_bytes", a.treeBytes.Load())
	}
	return nil
}

func (a *AntiEntropy) isBuilt(p int) bool {
	t := &a.trees[p]
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.built
}

// rebuild recomputes leaves segLo..segHi of partition p from a scan of the
// store. The race with concurrent writes is closed like this: the rebuild
// registers itself before the scan's snapshot is taken, so every change
// reported from then on is recorded in r.pending (last state per key);
// the scan remembers what it saw of each key; after the scan (and a fence,
// so that every change persisted before the snapshot has been reported),
// each pending key's scanned contribution is replaced by its pending state.
// The resulting leaves are installed under the tree's mutex in one step.
// full also sets the counts and marks the tree built.
func (a *AntiEntropy) rebuild(ctx context.Context, p, segLo, segHi int, full bool) error {
	t := &a.trees[p]
	lo, _ := a.geo.segRange(p, segLo)
	_, hi := a.geo.segRange(p, segHi)
	r := &rebuild{lo: lo, hi: hi, pending: make(map[storage.Key]keyState)}
	t.mu.Lock()
	if !full && !t.built {
		t.mu.Unlock()
		return nil // a segment repair of an unbuilt tree: the build covers it
	}
	t.rebuilds = append(t.rebuilds, r)
	t.mu.Unlock()
	installed := false
	defer func() {
		if !installed {
			t.mu.Lock()
			t.dropRebuildLocked(r)
			t.mu.Unlock()
		}
	}()

	leaves := make([]uint64, segHi-segLo+1)
	scanned := make(map[storage.Key]keyState)
	var keys, tombs int
	err := a.scan(ctx, lo, hi, func(k storage.Key, c versioning.Clock) error {
		st := stateOf(k, c)
		if !st.present {
			return nil
		}
		leaves[a.geo.segment(k.Hash)-segLo] ^= st.ih
		scanned[k] = st
		keys++
		tombs += b2i(st.tomb)
		return nil
	})
	if err != nil {
		return fmt.Errorf("antientropy: rebuild partition %d: %w", p, err)
	}
	if a.fence != nil {
		a.fence()
	}

	t.mu.Lock()
	for k, st := range r.pending {
		i := a.geo.segment(k.Hash) - segLo
		if old, ok := scanned[k]; ok {
			leaves[i] ^= old.ih
			keys--
			tombs -= b2i(old.tomb)
		}
		leaves[i] ^= st.ih
		keys += b2i(st.present)
		tombs += b2i(st.tomb)
	}
	var alloc bool
	for i, v := range leaves {
		s := segLo + i
		if d := t.leafLocked(s) ^ v; d != 0 {
			alloc = t.xorLocked(a.geo, s, d) || alloc
		}
	}
	if full {
		t.keys, t.tombs = keys, tombs
		t.next = a.nextRebuild(!t.built)
		if !t.built {
			t.built = true
			a.built.Add(1)
		}
	}
	t.dropRebuildLocked(r)
	installed = true
	t.mu.Unlock()
	if alloc {
		a.m.treeBytes.Set(float64(a.treeBytes.Add(a.geo.treeBytes())))
	}
	scope := "segment"
	if full {
		scope = "partition"
	}
	a.m.rebuilds.WithLabelValues(scope).Inc()
	a.statusMu.Lock()
	a.totals.rebuilds++
	a.statusMu.Unlock()
	return nil
}

// nextRebuild returns when a partition just rebuilt is due again: uniform
// in [½, 1½] intervals after the first build (staggering the partitions),
// ±10% after later ones.
func (a *AntiEntropy) nextRebuild(first bool) time.Time {
	iv := a.cfg.RebuildInterval
	if first {
		return a.cfg.Now().Add(iv/2 + time.Duration(a.int64N(int64(iv)+1)))
	}
	return a.cfg.Now().Add(jitter.Duration(iv, 0.1, a.float64))
}

// newRand returns the source for seed (0: a random one).
func newRand(seed uint64) *rand.Rand {
	if seed == 0 {
		seed = rand.Uint64()
	}
	return rand.New(rand.NewPCG(seed, 0x616e7469))
}

func (a *AntiEntropy) float64() float64 {
	a.rngMu.Lock()
	defer a.rngMu.Unlock()
	return a.rng.Float64()
}

func (a *AntiEntropy) int64N(n int64) int64 {
	a.rngMu.Lock()
	defer a.rngMu.Unlock()
	return a.rng.Int64N(n)
}

// maxCorruptSkips bounds how many corrupt objects one scan steps over.
const maxCorruptSkips = 1 << 16

// scan is Local.ScanLocal that checks ctx every few keys and steps over
// corrupt objects (counting them as absent: the quorum layer reads them as
// missing too, so a repair overwrites them), resuming after each.
func (a *AntiEntropy) scan(ctx context.Context, lo, hi uint64, fn func(k storage.Key, c versioning.Clock) error) error {
	return scanSkipping(ctx, a.local, lo, hi, fn, func(err error) {
		a.m.corrupt.Inc()
		a.log.Warn("corrupt object skipped", "err", err)
	})
}

// Scanner is the part of [Local] the finders need.
type Scanner interface {
	ScanLocal(lo, hi uint64, fn func(k storage.Key, c versioning.Clock) error) error
}

func scanSkipping(ctx context.Context, s Scanner, lo, hi uint64, fn func(k storage.Key, c versioning.Clock) error, corrupt func(error)) error {
	for range maxCorruptSkips {
		n := 0
		err := s.ScanLocal(lo, hi, func(k storage.Key, c versioning.Clock) error {
			if n++; n&255 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			return fn(k, c)
		})
		var ce *storage.CorruptError
		if err == nil || !errors.As(err, &ce) {
			return err
		}
		h, ok := corruptHash(ce)
		if !ok || h < lo || h > hi {
			return err
		}
		corrupt(err)
		if h == hi {
			return nil
		}
		lo = h + 1
	}
	return fmt.Errorf("antientropy: scan %016x-%016x: more than %d corrupt objects", lo, hi, maxCorruptSkips)
}

// corruptHash returns the hash of the object a CorruptError names, from its
// key or, if the key did not parse, from the engine key ('o' | hash | ...).
func corruptHash(ce *storage.CorruptError) (uint64, bool) {
	if ce.Key != (storage.Key{}) {
		return ce.Key.Hash, true
	}
	if len(ce.RawKey) >= 9 {
		return binary.BigEndian.Uint64(ce.RawKey[1:9]), true
	}
	return 0, false
}

// suspect queues segment s of partition p for a rescan.
func (a *AntiEntropy) suspect(p, s int) {
	a.suspectMu.Lock()
	defer a.suspectMu.Unlock()
	if len(a.suspects) < maxSuspects {
		a.suspects[segRef{p, s}] = struct{}{}
	}
}

// repairSuspects rescans up to max suspected segments.
func (a *AntiEntropy) repairSuspects(ctx context.Context, max int) error {
	a.suspectMu.Lock()
	var todo []segRef
	for ref := range a.suspects {
		if len(todo) == max {
			break
		}
		todo = append(todo, ref)
		delete(a.suspects, ref)
	}
	a.suspectMu.Unlock()
	for _, ref := range todo {
		if err := a.rebuild(ctx, ref.p, ref.s, ref.s, false); err != nil {
			return err
		}
	}
	return nil
}

// checkLeaf compares what a scan found in segment s of partition p (xor)
// with the tree's leaf read before (before) and after the scan. When the
// leaf did not move during the scan yet disagrees with it, the tree has
// drifted from the store (disk rot, or a write reported to OnChange only
// after a rebuild finished) and the segment is queued for a rescan.
func (a *AntiEntropy) checkLeaf(p, s int, before, xor uint64) {
	after, built := a.trees[p].leaf(s)
	if built && before == after && after != xor {
		a.suspect(p, s)
	}
}

// Status is a snapshot of anti-entropy for /cluster and `dynamod status`.
type Status struct {
	Self string `json:"self"`
	// Partitions is the number of trees (one per partition), Built how many
	// are built.
	Partitions int `json:"partitions"`
	Built      int `json:"built"`
	Segments   int `json:"segments"`
	// TreeBytes is the memory of all allocated leaves and branches;
	// BytesPerTree what one partition's costs once it holds a key.
	TreeBytes    int64 `json:"tree_bytes"`
	BytesPerTree int64 `json:"bytes_per_tree"`
	// Keys and Tombstones count the objects the trees cover.
	Keys       int `json:"keys"`
	Tombstones int `json:"tombstones"`
	// Totals since start.
	Exchanges     uint64 `json:"exchanges"`
	Failures      uint64 `json:"failures"`
	KeysPushed    uint64 `json:"keys_pushed"`
	KeysPulled    uint64 `json:"keys_pulled"`
	BytesSent     uint64 `json:"bytes_sent"`
	BytesReceived uint64 `json:"bytes_received"`
	Reaped        uint64 `json:"tombstones_reaped"`
	Rebuilds      uint64 `json:"rebuilds"`
	// Peers holds the last exchange with each peer, sorted by name.
	Peers []PeerStatus `json:"peers"`
}

// PeerStatus is the last exchange this node started with one peer.
type PeerStatus struct {
	Peer         string    `json:"peer"`
	LastExchange time.Time `json:"last_exchange"`
	// LastError is the error of the last exchange, "" if it succeeded.
	LastError string `json:"last_error,omitempty"`
	// Partitions compared, and how far behind the replicas were: the
	// partitions, segments and keys that differed.
	Partitions          int    `json:"partitions"`
	DifferingPartitions int    `json:"differing_partitions"`
	DifferingSegments   int    `json:"differing_segments"`
	DifferingKeys       int    `json:"differing_keys"`
	Exchanges           uint64 `json:"exchanges"`
}

// Status returns a snapshot of the trees and exchanges.
func (a *AntiEntropy) Status() Status {
	s := Status{
		Self:         a.cfg.Self,
		Partitions:   len(a.trees),
		Built:        int(a.built.Load()),
		Segments:     a.geo.segments(),
		TreeBytes:    a.treeBytes.Load(),
		BytesPerTree: a.geo.treeBytes(),
	}
	for p := range a.trees {
		t := &a.trees[p]
		t.mu.Lock()
		s.Keys += t.keys
		s.Tombstones += t.tombs
		t.mu.Unlock()
	}
	a.statusMu.Lock()
	defer a.statusMu.Unlock()
	tt := a.totals
	s.Exchanges, s.Failures = tt.exchanges, tt.failures
	s.KeysPushed, s.KeysPulled = tt.pushed, tt.pulled
	s.BytesSent, s.BytesReceived = tt.sent, tt.received
	s.Reaped, s.Rebuilds = tt.reaped, tt.rebuilds
	for _, p := range a.peers {
		s.Peers = append(s.Peers, *p)
	}
	slices.SortFunc(s.Peers, func(x, y PeerStatus) int { return strings.Compare(x.Peer, y.Peer) })
	return s
}
