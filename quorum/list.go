package quorum

import (
	"context"
	"fmt"
	"slices"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// hashRange is an inclusive range of key hashes.
type hashRange struct{ lo, hi uint64 }

// ListKeys calls fn for every live key of bucket. It covers every partition
// once, asking one live replica of each (this node where it can), so its
// answer is as fresh as an r=1 read.
func (c *Coordinator) ListKeys(ctx context.Context, bucket string, fn func(key string) error) error {
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
		e := encoder{}
		e.Str(bucket)
		e.Uvarint(uint64(len(plan[node])))
		for _, rg := range plan[node] {
			e.Fixed64(rg.lo)
			e.Fixed64(rg.hi)
		}
		b, err := c.tr.Call(ctx, node, KindList, e.B)
		if err != nil {
			return &UnavailableError{Op: "list", Want: 1, Reason: fmt.Sprintf("%s: %v", node, err)}
		}
		if len(b) == 0 {
			return errMalformed
		}
		d := newDecoder(b[1:])
		if b[0] != stOK {
			return decodeErr(b[0], &d)
		}
		count := d.Uvarint()
		for i := uint64(0); i < count && d.Err == nil; i++ {
			k := d.Str()
			if d.Err == nil {
				if err := fn(k); err != nil {
					return err
				}
			}
		}
		if err := d.End(); err != nil {
			return err
		}
	}
	return nil
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
			cl, err := storage.DecodeObject(raw)
			if err != nil {
				c.m.corrupt.Inc()
				c.log.Error("corrupt object in key listing", "bucket", bucket, "err", err)
				return nil
			}
			if versioning.IsTombstone(cl) {
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
	if err := d.End(); err != nil {
		return encodeErr(err)
	}
	var keys []string
	if err := c.listLocal(ctx, bucket, ranges, func(k string) error { keys = append(keys, k); return nil }); err != nil {
		return encodeErr(err)
	}
	e := encoder{}
	e.Byte(stOK)
	e.Uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.Str(k)
	}
	return e.B
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
