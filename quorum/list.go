package quorum

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// hashRange is an inclusive range of key hashes.
type hashRange struct{ lo, hi uint64 }

// MaxScans is how many key listings and operator scans (the finders) may
// run at once on one node; past it they are refused as unavailable (503),
// so that bursts of scans cannot take a node's disk and memory. A listing
// holds a slot on the node that coordinates it and, for each page it
// asks of a remote replica, one there.
const MaxScans = 4

// A remote listing travels in pages (KindList with a cursor): a page ends
// at a hash boundary once it holds listPageKeys keys or listPageBytes of
// them, or has looked at listPageScan objects or listPageRaw bytes of
// them. Keys that share the last hash stay on the page, up to
// listPageHardBytes.
const (
	listPageKeys      = 1000
	listPageBytes     = 1 << 20
	listPageScan      = 16384
	listPageRaw       = 32 << 20
	listPageHardBytes = 16 << 20
)

// scanCounts holds each coordinator's count of scans under way. It lives
// here rather than in Coordinator, keyed weakly so that a collected
// coordinator's entry goes with it.
var scanCounts sync.Map // weak.Pointer[Coordinator] → *atomic.Int32

func (c *Coordinator) scanCount() *atomic.Int32 {
	wp := weak.Make(c)
	if v, ok := scanCounts.Load(wp); ok {
		return v.(*atomic.Int32)
	}
	v, loaded := scanCounts.LoadOrStore(wp, new(atomic.Int32))
	if !loaded {
		runtime.AddCleanup(c, func(wp weak.Pointer[Coordinator]) { scanCounts.Delete(wp) }, wp)
	}
	return v.(*atomic.Int32)
}

// StartScan takes one of the node's MaxScans slots for a key listing or an
// operator scan named op, and returns the function that gives it back
// (call it exactly once). Past the limit it fails at once with an
// *UnavailableError (errors.Is ErrUnavailable).
func (c *Coordinator) StartScan(op string) (done func(), err error) {
	n := c.scanCount()
	if n.Add(1) > MaxScans {
		n.Add(-1)
		return nil, &UnavailableError{Op: op, Reason: fmt.Sprintf("%d key listings and scans already running on %s; retry later", MaxScans, c.cfg.Self)}
	}
	var once sync.Once
	return func() { once.Do(func() { n.Add(-1) }) }, nil
}

// ListKeys calls fn for every live key of bucket, one call at a time. It
// covers every partition once, asking one live replica of each (this node
// where it can), so its answer is as fresh as an r=1 read. Keys stream
// through: local ones as the scan finds them, remote ones a page at a
// time. It is refused with ErrUnavailable while MaxScans listings and
// scans run here, or on a replica it asks.
func (c *Coordinator) ListKeys(ctx context.Context, bucket string, fn func(key string) error) error {
	done, err := c.StartScan("list")
	if err != nil {
		return err
	}
	defer done()
	props := c.buckets.Props(bucket)
	r := c.members.Ring()
	plan := map[string][]hashRange{}
	for p := range r.Config().Partitions {
		walk, n, _ := c.members.Owners(p, props.NVal)
		pick := ""
		if slices.Contains(walk[:n], c.cfg.Self) {
			pick = c.cfg.Self
		} else {
			for _, m := range walk { // primaries first, then fallbacks
				if c.alive(m) {
					pick = m
					break
				}
			}
		}
		if pick == "" {
			return &UnavailableError{Op: "list", Want: 1, Reason: fmt.Sprintf("no replica of partition %d is alive", p)}
		}
		lo, hi := r.Range(p)
		rs := plan[pick]
		if len(rs) > 0 && rs[len(rs)-1].hi+1 == lo {
			rs[len(rs)-1].hi = hi
		} else {
			rs = append(rs, hashRange{lo, hi})
		}
		plan[pick] = rs
	}
	nodes := make([]string, 0, len(plan))
	for n := range plan {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	for _, node := range nodes {
		if node == c.cfg.Self {
			if err := c.listLocal(ctx, bucket, plan[node], fn); err != nil {
				return err
			}
			continue
		}
		if err := c.listRemote(ctx, node, bucket, plan[node], fn); err != nil {
			return err
		}
	}
	return nil
}

// listRemote lists bucket's keys in ranges on node, page by page.
func (c *Coordinator) listRemote(ctx context.Context, node, bucket string, ranges []hashRange, fn func(string) error) error {
	if len(ranges) == 0 {
		return nil
	}
	cursor := ranges[0].lo
	for {
		b, err := c.tr.Call(ctx, node, KindList, encodeListReq(bucket, ranges, cursor, listPageKeys))
		if err != nil {
			return &UnavailableError{Op: "list", Want: 1, Reason: fmt.Sprintf("%s: %v", node, err)}
		}
		pg, err := decodeListPage(b)
		if err != nil {
			return err
		}
		for _, k := range pg.keys {
			if err := fn(k); err != nil {
				return err
			}
		}
		if !pg.more {
			return nil
		}
		if pg.next <= cursor {
			// Every page must move on: a peer that does not could
			// keep the listing going forever.
			return fmt.Errorf("%w: list page from %s does not advance (cursor %016x, next %016x)", errMalformed, node, cursor, pg.next)
		}
		cursor = pg.next
	}
}

// listLocal scans this node's store for bucket's live keys in ranges.
func (c *Coordinator) listLocal(ctx context.Context, bucket string, ranges []hashRange, fn func(string) error) error {
	for _, rg := range ranges {
		err := c.store.ScanRaw(rg.lo, rg.hi, func(k storage.Key, raw []byte) error {
			if k.Bucket != bucket {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if !c.liveRaw(bucket, raw) {
				return nil
			}
			return fn(k.Key)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// liveRaw reports whether an encoded object has a live value that is
// neither a tombstone nor expired. A corrupt object is logged, counted and
// left out.
func (c *Coordinator) liveRaw(bucket string, raw []byte) bool {
	cl, err := storage.DecodeObject(raw)
	if err != nil {
		c.m.corrupt.Inc()
		c.log.Error("corrupt object in key listing", "bucket", bucket, "err", err)
		return false
	}
	return !versioning.IsTombstoneAt(cl, c.cfg.Now().UnixNano())
}

// listPage is one page of a remote listing: keys, and if more follow, the
// hash the next page starts at.
type listPage struct {
	keys []string
	more bool
	next uint64
}

// encodeListReq asks for a page of bucket's keys in ranges from hash
// cursor on, at most limit keys (up to listPageKeys).
func encodeListReq(bucket string, ranges []hashRange, cursor uint64, limit int) []byte {
	e := encoder{}
	e.Str(bucket)
	e.Uvarint(uint64(len(ranges)))
	for _, rg := range ranges {
		e.Fixed64(rg.lo)
		e.Fixed64(rg.hi)
	}
	e.Fixed64(cursor)
	e.Uvarint(uint64(limit))
	return e.B
}

func decodeListPage(b []byte) (listPage, error) {
	if len(b) == 0 {
		return listPage{}, errMalformed
	}
	d := newDecoder(b[1:])
	if b[0] != stOK {
		return listPage{}, decodeErr(b[0], &d)
	}
	n := d.Uvarint()
	if n > uint64(len(b)) { // each key takes at least a byte
		return listPage{}, fmt.Errorf("%w: list page claims %d keys in %d bytes", errMalformed, n, len(b))
	}
	pg := listPage{keys: make([]string, 0, n)}
	for i := uint64(0); i < n && d.Err == nil; i++ {
		if k := d.Str(); d.Err == nil {
			pg.keys = append(pg.keys, k)
		}
	}
	pg.more = d.Byte() == 1
	pg.next = d.Fixed64()
	return pg, d.End()
}

// errPageFull ends a page's scan.
var errPageFull = errors.New("quorum: list page full")

func (c *Coordinator) serveList(ctx context.Context, body []byte) []byte {
	d := newDecoder(body)
	bucket := d.Str()
	n := d.Uvarint()
	if n > 1<<20 {
		return encodeErr(errMalformed)
	}
	ranges := make([]hashRange, 0, min(n, 1024))
	for i := uint64(0); i < n && d.Err == nil; i++ {
		ranges = append(ranges, hashRange{d.Fixed64(), d.Fixed64()})
	}
	cursor := d.Fixed64()
	limit := d.Uvarint()
	if err := d.End(); err != nil {
		return encodeErr(err)
	}
	if limit == 0 || limit > listPageKeys {
		limit = listPageKeys
	}
	done, err := c.StartScan("list")
	if err != nil {
		return encodeErr(err)
	}
	defer done()
	pg, err := c.listPage(ctx, bucket, ranges, cursor, int(limit))
	if err != nil {
		return encodeErr(err)
	}
	e := encoder{}
	e.Byte(stOK)
	e.Uvarint(uint64(len(pg.keys)))
	for _, k := range pg.keys {
		e.Str(k)
	}
	more := uint8(0)
	if pg.more {
		more = 1
	}
	e.Byte(more)
	e.Fixed64(pg.next)
	return e.B
}

// listPage reads one page of bucket's live keys in ranges, from hash
// cursor on (see listPageKeys for where a page ends).
func (c *Coordinator) listPage(ctx context.Context, bucket string, ranges []hashRange, cursor uint64, limit int) (listPage, error) {
	var pg listPage
	keyBytes, scanned, raws := 0, 0, 0
	var last uint64
	for _, rg := range ranges {
		if rg.hi < cursor || rg.lo > rg.hi {
			continue
		}
		err := c.store.ScanRaw(max(rg.lo, cursor), rg.hi, func(k storage.Key, raw []byte) error {
			full := len(pg.keys) >= limit || keyBytes >= listPageBytes || scanned >= listPageScan || raws >= listPageRaw
			if full && k.Hash != last {
				pg.more, pg.next = true, k.Hash
				return errPageFull
			}
			if scanned++; scanned&255 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			last = k.Hash
			raws += len(raw)
			if k.Bucket != bucket || !c.liveRaw(bucket, raw) {
				return nil
			}
			if keyBytes += len(k.Key); keyBytes > listPageHardBytes {
				return fmt.Errorf("quorum: list page: more than %d bytes of keys share hash %016x", listPageHardBytes, k.Hash)
			}
			pg.keys = append(pg.keys, k.Key)
			return nil
		})
		if errors.Is(err, errPageFull) {
			return pg, nil
		}
		if err != nil {
			return listPage{}, err
		}
	}
	return pg, nil
}

// ListBuckets returns the buckets any live member stores.
func (c *Coordinator) ListBuckets(ctx context.Context) ([]string, error) {
	set := map[string]bool{}
	for _, b := range c.store.Buckets() {
		set[b] = true
	}
	for _, m := range c.members.Ring().Members() {
		if m == c.cfg.Self || !c.alive(m) {
			continue
		}
		b, err := c.tr.Call(ctx, m, KindBuckets, nil)
		if err != nil || len(b) == 0 || b[0] != stOK {
			continue // best effort, like key listing's coverage
		}
		d := newDecoder(b[1:])
		n := d.Uvarint()
		for i := uint64(0); i < n && d.Err == nil; i++ {
			if s := d.Str(); d.Err == nil {
				set[s] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for b := range set {
		out = append(out, b)
	}
	slices.Sort(out)
	return out, nil
}
