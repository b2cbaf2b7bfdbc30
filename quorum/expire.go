package quorum

import (
	"github.com/dynamod/dynamod/versioning"
)

// Expiry (docs/design.md, "Expiry"). A value written with a TTL carries
// the instant it expires (versioning.Value.Expires, stamped by the node
// that took the write). Every coordinator compares it with its own clock
// when it answers a read: an expired value answers as a tombstone, in
// place, so a key whose values have all expired reads 404, and an
// expired sibling next to live ones reads like a concurrent delete. The
// read's context still covers it, so a write with that context (a
// refresh) supersedes it. Once every value of a key is expired or
// deleted, the coordinator writes a tombstone over them with the read's
// context: from there the key leaves through the tombstone path (reaping),
// and no replica, hint or exchange can bring the value back, because any
// copy of it carries the same expiry.

// expireValues returns c with every value expired at now replaced by a
// tombstone at the same dot (stamped with the value's own LastModified, so
// that last-write-wins orders it as the write it was), and how many were.
// c itself is never modified; without an expired value it is returned as
// is, without copying.
func expireValues(c versioning.Clock, now int64) (versioning.Clock, int) {
	n := 0
	for k := range c.Entries {
		for _, v := range c.Entries[k].Values {
			if !v.Deleted && v.ExpiredAt(now) {
				n++
			}
		}
	}
	for _, v := range c.Anon {
		if !v.Deleted && v.ExpiredAt(now) {
			n++
		}
	}
	if n == 0 {
		return c, 0
	}
	tomb := func(vs []versioning.Value) []versioning.Value {
		out := make([]versioning.Value, len(vs))
		for i, v := range vs {
			if !v.Deleted && v.ExpiredAt(now) {
				v = versioning.Value{Deleted: true, LastModified: v.LastModified}
			}
			out[i] = v
		}
		return out
	}
	out := versioning.Clock{Entries: make([]versioning.Entry, len(c.Entries))}
	for k, e := range c.Entries {
		out.Entries[k] = versioning.Entry{Actor: e.Actor, Counter: e.Counter, Values: tomb(e.Values)}
	}
	if len(c.Anon) > 0 {
		out.Anon = tomb(c.Anon)
	}
	return out, n
}

// expireRead applies expiry to a read's answer. When it leaves nothing but
// tombstones, it writes one tombstone over the read's context in the
// background, so that the expired values are removed like deleted ones,
// and reports gone: there is nothing left to resolve.
func (c *Coordinator) expireRead(p placement, props Props, obj *Object) (_ *Object, gone bool) {
	now := c.cfg.Now().UnixNano()
	clock, n := expireValues(obj.Clock, now)
	if n == 0 {
		return obj, false
	}
	c.m.expired.Add(float64(n))
	out := *obj
	out.Clock = clock
	if versioning.IsTombstone(clock) {
		tomb := versioning.New(obj.Context, versioning.Value{Deleted: true, LastModified: now})
		c.bg.Go(func() {
			ctx := c.bgContext()
			if _, err := c.write(ctx, "expire", p, tomb, WriteOptions{}, props); err != nil {
				c.log.Debug("expiry tombstone not written", "bucket", p.key.Bucket, "err", err)
			}
		})
		return &out, true
	}
	return &out, false
}
