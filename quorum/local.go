package quorum

import (
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// The methods below expose this node's replica to the background repair
// processes (anti-entropy). Each change goes through the same per-key lock
// and the same OnChange hook as client writes.

// ReadLocal returns this node's copy of k; found is false if it has none.
func (c *Coordinator) ReadLocal(k storage.Key) (versioning.Clock, bool, error) {
	return c.readLocal(k)
}

// MergeLocal syncs cl into this node's copy of k and persists the result.
func (c *Coordinator) MergeLocal(k storage.Key, cl versioning.Clock) error {
	_, err := c.mergeLocal(k, cl, false, "")
	return err
}

// ScanLocal calls fn for every object of this node with lo <= hash <= hi.
func (c *Coordinator) ScanLocal(lo, hi uint64, fn func(k storage.Key, cl versioning.Clock) error) error {
	return c.store.Scan(lo, hi, fn)
}

// ReapLocal physically deletes k if its local state still has digest d
// (versioning.Digest). It reports whether it deleted.
func (c *Coordinator) ReapLocal(k storage.Key, d uint64) (bool, error) {
	unlock := c.store.Lock(k)
	defer unlock()
	cur, found, err := c.readLocal(k)
	if err != nil || !found || versioning.Digest(cur) != d {
		return false, err
	}
	c.actors.dropped(k.Hash)
	if err := c.store.Delete(k, false); err != nil {
		return false, err
	}
	c.m.reaped.Inc()
	if c.cfg.OnChange != nil {
		c.cfg.OnChange(k, cur, versioning.Clock{})
	}
	return true, nil
}

// FenceLocal returns once every local change that was persisted when it was
// called has also been reported to OnChange (changes are persisted and
// reported under the key's lock).
func (c *Coordinator) FenceLocal() { c.store.Fence() }
