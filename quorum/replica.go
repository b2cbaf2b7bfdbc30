package quorum

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// readLocal returns the local state of k; a missing key is the zero clock
// with found false. A corrupt object is reported (logged, counted) and read
// as missing, so that read repair and anti-entropy overwrite it.
func (c *Coordinator) readLocal(k storage.Key) (versioning.Clock, bool, error) {
	cl, err := c.store.Get(k)
	found, err := c.localFound(k, err)
	return cl, found, err
}

// readLocalEncoded is readLocal of k's encoding (read only: it may be the
// store's cached copy).
func (c *Coordinator) readLocalEncoded(k storage.Key) ([]byte, bool, error) {
	obj, err := c.store.GetEncoded(k)
	found, err := c.localFound(k, err)
	return obj, found, err
}

// localFound classifies the error of a local read of k: none (found),
// not found, corrupt (reported, then read as not found), or another.
func (c *Coordinator) localFound(k storage.Key, err error) (bool, error) {
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	case errors.Is(err, storage.ErrCorrupt):
		// The copy is lost: whatever replaces it may lack dots this
		// process minted.
		c.actors.dropped(k.Hash)
		c.m.corrupt.Inc()
		c.log.Error("corrupt object, will be repaired", "bucket", k.Bucket, "err", err)
		return false, nil
	}
	return false, err
}

// mergeLocal syncs in into the local state of k under the key's lock and
// persists the result if it changed. It returns the merged state. A
// hintFor other than "" and this node records, under the same lock, that
// the copy is owed to that member: a hand-off of the key cannot run in
// between and drop the copy before the hint exists.
func (c *Coordinator) mergeLocal(k storage.Key, in versioning.Clock, sync bool, hintFor string) (versioning.Clock, error) {
	return c.mergeLocalEncoded(k, in, nil, sync, hintFor)
}

// mergeLocalEncoded is mergeLocal with in's encoding, raw (nil if none):
// when in is the merged state, as when a replica is behind its
// coordinator, raw is stored as it is instead of encoding in again.
func (c *Coordinator) mergeLocalEncoded(k storage.Key, in versioning.Clock, raw []byte, sync bool, hintFor string) (versioning.Clock, error) {
	unlock := c.store.Lock(k)
	defer unlock()
	cur, found, err := c.readLocal(k)
	if err != nil {
		return versioning.Clock{}, err
	}
	merged := in
	changed := true
	if found {
		merged = versioning.Sync(cur, in)
		changed = !versioning.Equal(merged, cur)
		switch {
		case raw == nil:
		case versioning.Equal(merged, in):
			merged = in // the same state, and raw is exactly its encoding
		default:
			raw = nil
		}
	}
	if changed || sync {
		var err error
		if raw != nil {
			err = c.store.PutEncoded(k, merged, raw, sync)
		} else {
			err = c.store.Put(k, merged, sync)
		}
		if err != nil {
			return versioning.Clock{}, err
		}
		if c.cfg.OnChange != nil && changed {
			c.cfg.OnChange(k, cur, merged)
		}
	}
	if hintFor != "" && hintFor != c.cfg.Self {
		if err := c.store.PutHint(hintFor, k, sync); err != nil {
			return versioning.Clock{}, err
		}
		c.m.hintsStored.Inc()
	}
	return merged, nil
}

// Serve answers a peer's request. It implements transport.Handler. Every
// reply starts with a status byte; errors that a coordinator acts on travel
// in the body, so only transport faults come back as Go errors.
func (c *Coordinator) Serve(ctx context.Context, from string, kind uint8, body []byte) ([]byte, error) {
	c.m.servedKind(kind)
	switch kind {
	case KindGet:
		return c.serveGet(body), nil
	case KindReplicate, KindRepair, KindHandoff:
		return c.servePut(body), nil
	case KindCoordinate:
		return c.serveCoordinate(ctx, body), nil
	case KindList:
		return c.serveList(ctx, body), nil
	case KindBuckets:
		e := encoder{}
		e.Byte(stOK)
		bs := c.store.Buckets()
		e.Uvarint(uint64(len(bs)))
		for _, b := range bs {
			e.Str(b)
		}
		return e.B, nil
	}
	return encodeErr(fmt.Errorf("%w: unknown kind %d", errMalformed, kind)), nil
}

func (c *Coordinator) serveGet(body []byte) []byte {
	d := newDecoder(body)
	k := d.key()
	var flags uint8
	if d.Err == nil && len(d.B) > 0 {
		flags = d.Byte() // getStamp, getDigest; other bits are ignored
	}
	var digest uint64
	if flags&getDigest != 0 {
		digest = d.Fixed64()
	}
	if err := d.End(); err != nil {
		return encodeErr(err)
	}
	if flags&getDigest != 0 {
		// The decoded copy: from the object cache, decoding costs no
		// checksum pass. A missing or unreadable copy is classified (and
		// a corrupt one reported) once, by the read below.
		if cl, err := c.store.Get(k); err == nil && versioning.Digest(cl) == digest {
			if flags&getStamp != 0 {
				return append(appendStamp(make([]byte, 0, stampLen+1), time.Now()), stSame)
			}
			return []byte{stSame}
		}
		// Another copy, none or an error: answered as without a digest.
	}
	obj, found, err := c.readLocalEncoded(k)
	if err != nil {
		return encodeErr(err)
	}
	var b []byte
	if flags&getStamp != 0 {
		b = appendStamp(make([]byte, 0, stampLen+1+len(obj)), time.Now())
	}
	if !found {
		return append(b, stNotFound)
	}
	if b == nil {
		b = make([]byte, 0, 1+len(obj))
	}
	return append(append(b, stOK), obj...)
}

func (c *Coordinator) servePut(body []byte) []byte {
	m, err := decodePut(body)
	if err != nil {
		return encodeErr(err)
	}
	if _, err := c.mergeLocalEncoded(m.key, m.clock, m.raw, m.sync, m.hintFor); err != nil {
		// The sender counts the write failed and keeps a hint for it.
		if ue := storageRefused("put", nil, err); ue != nil {
			return encodeErr(ue)
		}
		return encodeErr(err)
	}
	durable := uint8(0)
	if m.sync {
		durable = 1
	}
	if m.stamp {
		return append(appendStamp(make([]byte, 0, stampLen+2), time.Now()), stOK, durable)
	}
	return []byte{stOK, durable}
}

// decodeGetReply parses a KindGet reply. stamp is the replica's clock
// when it read its store (Unix ns), 0 if the reply has none.
func decodeGetReply(b []byte) (cl versioning.Clock, found bool, stamp int64, err error) {
	stamp, b = cutStamp(b)
	if len(b) == 0 {
		return versioning.Clock{}, false, 0, errMalformed
	}
	switch b[0] {
	case stOK:
		// The reply is ours (transport.Caller): the clock may share it.
		cl, err := storage.DecodeObjectOwned(b[1:])
		if err != nil {
			return versioning.Clock{}, false, 0, fmt.Errorf("%w: %w", errMalformed, err)
		}
		return cl, true, stamp, nil
	case stNotFound:
		return versioning.Clock{}, false, stamp, nil
	}
	d := newDecoder(b[1:])
	return versioning.Clock{}, false, 0, decodeErr(b[0], &d)
}

// cutSame reports whether b is a stSame reply to a KindGet, and its stamp
// (0 if none).
func cutSame(b []byte) (stamp int64, same bool) {
	stamp, b = cutStamp(b)
	return stamp, len(b) == 1 && b[0] == stSame
}

// decodePutReply parses a replicate/repair/handoff reply: durable or error,
// and the replica's clock when it applied the write (Unix ns), 0 if the
// reply has none.
func decodePutReply(b []byte) (durable bool, stamp int64, err error) {
	stamp, b = cutStamp(b)
	if len(b) == 2 && b[0] == stOK {
		return b[1] == 1, stamp, nil
	}
	if len(b) == 0 {
		return false, 0, errMalformed
	}
	d := newDecoder(b[1:])
	return false, 0, decodeErr(b[0], &d)
}
