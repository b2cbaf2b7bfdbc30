package quorum

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// Actor ids are minted as prefix<<epochBits | epoch. The prefix is random
// and stored with the data directory (a wiped directory gets a new one); the
// epoch counts up and is leased to disk in blocks, so a restarted process
// never reuses an epoch, even after a crash that lost unsynced writes.
//
// Why epochs and not one actor per node (docs/design.md, "Actors are epochs"): a DVVSet derives a new
// dot's counter from the coordinator's local clock of the key. Whenever that
// local clock can be behind what the actor already minted — a crash lost an
// unsynced write that other replicas acked, a fallback dropped its copy after
// handoff, a tombstone was reaped — reusing the actor would mint a dot twice
// for two different values, and Sync would silently keep only one of them.
// Riak's per-key epochs solve the same problem. So an actor is reused for a
// key only when the coordinator holds the key, has not dropped or lost its
// copy of it in this process (a fallback that handed it off, a partition
// released after a membership change, a reaped tombstone, a corrupt copy:
// see dropped), and the key's clock already has an entry of an epoch minted
// by this process; otherwise a fresh epoch is used. While the copy was
// never dropped it holds every dot this process minted for the key (each
// is persisted locally before it is sent anywhere, and merges never lose a
// local dot), so the next counter is new. Reuse does not depend on being a
// primary: a fallback that coordinates many writes keeps one clock entry.
const (
	epochBits  = 24
	epochLimit = 1 << epochBits
	leaseBlock = 4096
	metaActors = "actors"
)

// metaStore is the part of storage.Store the actor source needs.
type metaStore interface {
	GetMeta(name string) ([]byte, error)
	PutMeta(name string, v []byte) error
}

// actorSource hands out actor ids. Safe for concurrent use.
type actorSource struct {
	store metaStore

	// mu guards the fields below and the lease writes.
	mu sync.Mutex
	// prefix is the current random prefix; startEpoch the first epoch this
	// process minted under it.
	prefix     uint64
	startEpoch uint64
	next       uint64 // next epoch to hand out
	leaseEnd   uint64 // epochs below this are persisted as used
	// gone holds the hashes of keys whose local copy this process dropped
	// or lost: their epochs are never reused. Past maxGone entries the set
	// is cleared and startEpoch moves up instead, as after a restart.
	gone map[uint64]struct{}
}

// maxGone bounds the dropped-key set (8 bytes a key plus map overhead).
const maxGone = 1 << 20

func newActorSource(store metaStore) (*actorSource, error) {
	a := &actorSource{store: store, gone: map[uint64]struct{}{}}
	b, err := store.GetMeta(metaActors)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		if err := a.newPrefix(); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("quorum: load actor lease: %w", err)
	case len(b) != 16:
		return nil, fmt.Errorf("quorum: load actor lease: %w: %d bytes", storage.ErrCorrupt, len(b))
	default:
		a.prefix = binary.BigEndian.Uint64(b)
		a.next = binary.BigEndian.Uint64(b[8:])
		// extendLease never writes an epoch 0, an end past the limit or a
		// prefix wider than 64-epochBits bits (its ids would alias another
		// prefix's): such an entry is damage, not a lease.
		if a.next == 0 || a.next > epochLimit || a.prefix>>(64-epochBits) != 0 {
			return nil, fmt.Errorf("quorum: load actor lease: %w: prefix %#x, end %d", storage.ErrCorrupt, a.prefix, a.next)
		}
		a.leaseEnd = a.next
		if a.next >= epochLimit {
			if err := a.newPrefix(); err != nil {
				return nil, err
			}
		}
	}
	a.startEpoch = a.next
	if err := a.extendLease(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *actorSource) newPrefix() error {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("quorum: new actor prefix: %w", err)
	}
	a.prefix = binary.BigEndian.Uint64(b[:]) >> epochBits
	a.next, a.leaseEnd, a.startEpoch = 1, 1, 1
	return nil
}

// extendLease persists that epochs below next+leaseBlock are taken.
func (a *actorSource) extendLease() error {
	end := min(a.next+leaseBlock, epochLimit)
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], a.prefix)
	binary.BigEndian.PutUint64(b[8:], end)
	if err := a.store.PutMeta(metaActors, b[:]); err != nil {
		return fmt.Errorf("quorum: persist actor lease: %w", err)
	}
	a.leaseEnd = end
	return nil
}

// fresh returns an actor id never handed out before.
func (a *actorSource) fresh() (versioning.ActorID, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next >= epochLimit {
		if err := a.newPrefix(); err != nil {
			return 0, err
		}
	}
	if a.next >= a.leaseEnd {
		if err := a.extendLease(); err != nil {
			return 0, err
		}
	}
	id := versioning.ActorID(a.prefix<<epochBits | a.next)
	a.next++
	return id, nil
}

// dropped records that this process dropped or lost its local copy of the
// key with hash h: none of its epochs is reused for that key again. Call it
// with the key's lock held, before the copy goes.
func (a *actorSource) dropped(h uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.gone) >= maxGone {
		clear(a.gone)
		a.startEpoch = a.next // no epoch minted so far is reused for any key
	}
	a.gone[h] = struct{}{}
}

// forKey picks the actor to mint the next dot of key h with: the newest
// actor of this process already in the local clock if the local copy was
// found and never dropped (see the comment on epochBits), else a fresh one.
func (a *actorSource) forKey(h uint64, local versioning.Clock, found bool) (versioning.ActorID, error) {
	a.mu.Lock()
	_, isGone := a.gone[h]
	a.mu.Unlock()
	if found && !isGone {
		a.mu.Lock()
		prefix, start, next := a.prefix, a.startEpoch, a.next
		a.mu.Unlock()
		for i := len(local.Entries) - 1; i >= 0; i-- {
			id := uint64(local.Entries[i].Actor)
			if id>>epochBits == prefix && id&(epochLimit-1) >= start && id&(epochLimit-1) < next {
				return local.Entries[i].Actor, nil
			}
		}
	}
	return a.fresh()
}
