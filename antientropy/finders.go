package antientropy

import (
	"context"
	"fmt"

	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// Operator finders (Riak 3's aae_fold finders): scans of this node's store
// that list keys with many siblings, large objects, and tombstone counts.
// They read through a [Scanner] (quorum.Coordinator is one) and return plain
// structs with JSON tags for the node's HTTP endpoints. Each is one range
// scan of the selected partitions, in hash order; corrupt objects are
// stepped over and counted.

// ScanLimiter is implemented by a [Scanner] that bounds how many operator
// scans and key listings run at once on its node (quorum.Coordinator does,
// with quorum.MaxScans). StartScan takes a slot or fails at once, with an
// error the HTTP layer answers 503; done gives the slot back. The finders
// take a slot for their whole scan when their Scanner has a limit.
type ScanLimiter interface {
	StartScan(op string) (done func(), err error)
}

// startScan takes a scan slot of s, if s limits its scans.
func startScan(s Scanner) (done func(), err error) {
	if l, ok := s.(ScanLimiter); ok {
		return l.StartScan("find")
	}
	return func() {}, nil
}

// AllPartitions selects every partition in a [Query].
const AllPartitions = -1

// DefaultFindLimit is the number of keys a finder returns when Query.Limit
// is 0.
const DefaultFindLimit = 1000

// Query selects what a finder scans and how much it returns.
type Query struct {
	// Partition is one partition, or AllPartitions.
	Partition int
	// Limit is the most keys returned (matches past it are still counted);
	// 0 means DefaultFindLimit.
	Limit int
}

// KeyReport describes one object a finder matched. Bucket and Key are the
// raw bytes as strings; JSON shows bytes that are not UTF-8 as U+FFFD.
type KeyReport struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	Partition int    `json:"partition"`
	// Siblings is the number of live values, tombstones included.
	Siblings int `json:"siblings"`
	// Bytes is the object's encoded size (storage.AppendObject).
	Bytes     int  `json:"bytes"`
	Tombstone bool `json:"tombstone"`
}

// FindResult is what a finder returns.
type FindResult struct {
	Keys []KeyReport `json:"keys"`
	// Scanned objects, Matched ones (len(Keys) unless Truncated), Corrupt
	// objects stepped over.
	Scanned   int  `json:"scanned"`
	Matched   int  `json:"matched"`
	Truncated bool `json:"truncated"`
	Corrupt   int  `json:"corrupt"`
}

// PartitionCount counts one partition's objects.
type PartitionCount struct {
	Partition  int   `json:"partition"`
	Keys       int   `json:"keys"`
	Tombstones int   `json:"tombstones"`
	Bytes      int64 `json:"bytes"`
}

// FindSiblings lists the keys with more than siblings live values.
func FindSiblings(ctx context.Context, s Scanner, r *ring.Ring, q Query, siblings int) (FindResult, error) {
	return find(ctx, s, r, q, func(c versioning.Clock, _ func() int) bool { return c.Len() > siblings })
}

// FindLarge lists the objects whose encoded size exceeds bytes.
func FindLarge(ctx context.Context, s Scanner, r *ring.Ring, q Query, bytes int) (FindResult, error) {
	return find(ctx, s, r, q, func(_ versioning.Clock, size func() int) bool { return size() > bytes })
}

// CountTombstones counts the objects, tombstones and encoded bytes of each
// selected partition that holds at least one object, in partition order.
// q.Limit is ignored.
func CountTombstones(ctx context.Context, s Scanner, r *ring.Ring, q Query) ([]PartitionCount, error) {
	lo, hi, err := queryRange(r, q)
	if err != nil {
		return nil, err
	}
	done, err := startScan(s)
	if err != nil {
		return nil, err
	}
	defer done()
	var out []PartitionCount
	var buf []byte
	err = scanSkipping(ctx, s, lo, hi, func(k storage.Key, c versioning.Clock) error {
		p := r.Partition(k.Hash)
		if n := len(out); n == 0 || out[n-1].Partition != p {
			out = append(out, PartitionCount{Partition: p})
		}
		pc := &out[len(out)-1]
		pc.Keys++
		pc.Tombstones += b2i(versioning.IsTombstone(c))
		buf = storage.AppendObject(buf[:0], c)
		pc.Bytes += int64(len(buf))
		return nil
	}, func(error) {})
	return out, err
}

func queryRange(r *ring.Ring, q Query) (lo, hi uint64, err error) {
	switch {
	case q.Partition == AllPartitions:
		return 0, ^uint64(0), nil
	case q.Partition < 0 || q.Partition >= r.Partitions():
		return 0, 0, fmt.Errorf("antientropy: partition %d out of range [0, %d)", q.Partition, r.Partitions())
	}
	lo, hi = r.Range(q.Partition)
	return lo, hi, nil
}

func find(ctx context.Context, s Scanner, r *ring.Ring, q Query, match func(c versioning.Clock, size func() int) bool) (FindResult, error) {
	lo, hi, err := queryRange(r, q)
	if err != nil {
		return FindResult{}, err
	}
	done, err := startScan(s)
	if err != nil {
		return FindResult{}, err
	}
	defer done()
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultFindLimit
	}
	var res FindResult
	var buf []byte
	err = scanSkipping(ctx, s, lo, hi, func(k storage.Key, c versioning.Clock) error {
		res.Scanned++
		size := -1
		sizeOf := func() int {
			if size < 0 {
				buf = storage.AppendObject(buf[:0], c)
				size = len(buf)
			}
			return size
		}
		if !match(c, sizeOf) {
			return nil
		}
		res.Matched++
		if len(res.Keys) == limit {
			res.Truncated = true
			return nil
		}
		res.Keys = append(res.Keys, KeyReport{
			Bucket: k.Bucket, Key: k.Key, Partition: r.Partition(k.Hash),
			Siblings: c.Len(), Bytes: sizeOf(), Tombstone: versioning.IsTombstone(c),
		})
		return nil
	}, func(error) { res.Corrupt++ })
	return res, err
}
