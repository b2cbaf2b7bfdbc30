package storage

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"

	"github.com/dynamod/dynamod/versioning"
)

// Lock striping: Lock(k) takes one of lockStripes mutexes picked by k.Hash,
// so unrelated keys rarely contend and there is never a global lock. Hints
// have their own stripes, so PutHint may be called while holding Lock(k).
const (
	lockStripes     = 4096
	hintLockStripes = 256
)

// CorruptError reports a stored object or key that does not decode. Its Is
// matches [ErrCorrupt]; callers that repair data take the key from it with
// errors.As.
type CorruptError struct {
	Op string // "get", "scan", "hints"
	// Key is the object's key. It is the zero Key when the stored key
	// itself did not parse; RawKey is always the engine key.
	Key    Key
	RawKey []byte
	Err    error // what is wrong
}

func (e *CorruptError) Error() string {
	if e.Key == (Key{}) {
		return fmt.Sprintf("storage: %s: corrupt key %x: %s", e.Op, e.RawKey, e.Err.Error())
	}
	return fmt.Sprintf("storage: %s %s: corrupt: %s", e.Op, e.Key, e.Err.Error())
}

// Unwrap returns the cause.
func (e *CorruptError) Unwrap() error { return e.Err }

// Is matches ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Store keeps objects (the encoded clock of each key), hinted-handoff hints
// and node metadata in an [Engine]; the key layout is in the package doc.
// It is what the quorum layer uses. All methods are safe for concurrent use;
// callers serialize read-modify-write of one key with [Store.Lock].
type Store struct {
	e Engine

	// locks are the per-key write locks, picked by Key.Hash.
	locks [lockStripes]sync.Mutex
	// hintLocks serialize the check-then-write of one hint so the count
	// stays exact, picked by the hint's engine key.
	hintLocks [hintLockStripes]sync.Mutex

	// hints is the number of stored hints.
	hints atomic.Int64

	// bucketsMu guards buckets, the in-memory copy of the bucket registry.
	bucketsMu sync.RWMutex
	buckets   map[string]struct{}

	// bufs recycles key and value encoding buffers (*[]byte).
	bufs sync.Pool

	// cache holds recently used objects decoded; nil when disabled.
	cache *objectCache
	// closed makes cache hits after Close fail like engine reads do.
	closed atomic.Bool

	// he is the engine if it reports its health, else nil; onHealth is
	// the observer set by OnHealthChange.
	he       healthEngine
	onHealth atomic.Pointer[func(Health)]
}

// StoreOptions tune a Store. The cache serves what this process wrote or
// read; damage done to the files underneath is detected when an object is
// read from the engine again (after eviction or a restart).
type StoreOptions struct {
	// CacheBytes bounds the cache of decoded objects, by encoded size.
	// Default 32 MiB; negative disables it.
	CacheBytes int
}

// DefaultStoreOptions returns the options NewStore uses.
func DefaultStoreOptions() StoreOptions { return StoreOptions{CacheBytes: 32 << 20} }

// NewStore returns a Store over e, loading the bucket registry and counting
// the hints. The Store owns e: [Store.Close] closes it.
func NewStore(e Engine) (*Store, error) {
	return NewStoreOptions(e, DefaultStoreOptions())
}

// NewStoreOptions is NewStore with options.
func NewStoreOptions(e Engine, o StoreOptions) (*Store, error) {
	s := &Store{e: e, buckets: make(map[string]struct{}), cache: newObjectCache(o.CacheBytes)}
	err := e.Scan([]byte{prefixBucket}, []byte{prefixBucket + 1}, func(key, _ []byte) error {
		s.buckets[string(key[1:])] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: load bucket registry: %w", err)
	}
	// Hint keys are counted, not parsed: one bad key must not stop a node
	// from starting; Hints reports it.
	var n int64
	err = e.Scan([]byte{prefixHint}, []byte{prefixHint + 1}, func(_, _ []byte) error {
		n++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: count hints: %w", err)
	}
	s.hints.Store(n)
	if he, ok := e.(healthEngine); ok {
		s.he = he
		he.setHealthFunc(s.healthChanged)
	}
	return s, nil
}

func (s *Store) getBuf() *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 256)
	return &b
}

func (s *Store) putBuf(b *[]byte) {
	if cap(*b) > 64<<10 {
		return // don't pin large buffers
	}
	*b = (*b)[:0]
	s.bufs.Put(b)
}

// Get returns the clock stored for k, an error wrapping [ErrNotFound], or a
// [*CorruptError] if the stored bytes do not decode.
func (s *Store) Get(k Key) (versioning.Clock, error) {
	var gen uint64
	if s.cache != nil {
		c, ok, g := s.cache.get(k)
		if ok {
			if s.closed.Load() {
				return versioning.Clock{}, fmt.Errorf("storage: get %s: %w", k, ErrClosed)
			}
			return c, nil
		}
		gen = g
	}
	buf := s.getBuf()
	defer s.putBuf(buf)
	*buf = appendObjectKey(*buf, k)
	raw, err := s.e.Get(*buf)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return versioning.Clock{}, fmt.Errorf("storage: get %s: %w", k, ErrNotFound)
		}
		return versioning.Clock{}, fmt.Errorf("storage: get %s: %w", k, err)
	}
	// raw is ours: the clock's data may alias it.
	c, err := decodeObject(raw, true)
	if err != nil {
		return versioning.Clock{}, &CorruptError{Op: "get", Key: k, RawKey: slices.Clone(*buf), Err: err}
	}
	if s.cache != nil {
		s.cache.fill(k, c, len(raw), gen)
	}
	return c, nil
}

// Put stores c as k's state, replacing what was there. It registers k's
// bucket in the same atomic write the first time the bucket is seen. c must
// pass [versioning.Clock.Validate]; an invalid clock is refused with an
// error wrapping versioning.ErrBadClock and nothing is written.
func (s *Store) Put(k Key, c versioning.Clock, sync bool) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("storage: put %s: %w", k, err)
	}
	buf := s.getBuf()
	defer s.putBuf(buf)
	b := appendObjectKey(*buf, k)
	keyLen := len(b)
	b = AppendObject(b, c)
	*buf = b
	key, val := b[:keyLen], b[keyLen:]

	if s.hasBucket(k.Bucket) {
		if err := s.e.Put(key, val, sync); err != nil {
			s.cacheDrop(k)
			return fmt.Errorf("storage: put %s: %w", k, err)
		}
		s.cacheSet(k, c, len(val))
		return nil
	}
	var batch Batch
	batch.Put(append([]byte{prefixBucket}, k.Bucket...), nil)
	batch.Put(key, val)
	if err := s.e.Write(&batch, sync); err != nil {
		s.cacheDrop(k)
		return fmt.Errorf("storage: put %s: %w", k, err)
	}
	s.cacheSet(k, c, len(val))
	s.bucketsMu.Lock()
	s.buckets[k.Bucket] = struct{}{}
	s.bucketsMu.Unlock()
	return nil
}

func (s *Store) hasBucket(b string) bool {
	s.bucketsMu.RLock()
	_, ok := s.buckets[b]
	s.bucketsMu.RUnlock()
	return ok
}

// Delete removes k's object physically (tombstone reaping); deleting a
// missing object is not an error. The bucket stays registered.
func (s *Store) Delete(k Key, sync bool) error {
	buf := s.getBuf()
	defer s.putBuf(buf)
	*buf = appendObjectKey(*buf, k)
	err := s.e.Delete(*buf, sync)
	s.cacheDrop(k)
	if err != nil {
		return fmt.Errorf("storage: delete %s: %w", k, err)
	}
	return nil
}

func (s *Store) cacheSet(k Key, c versioning.Clock, size int) {
	if s.cache != nil {
		s.cache.set(k, c, size)
	}
}

func (s *Store) cacheDrop(k Key) {
	if s.cache != nil {
		s.cache.drop(k)
	}
}

// Lock locks k for a read-modify-write and returns the unlock function,
// which must be called exactly once. Keys are striped over a fixed set of
// mutexes by Hash, so two keys may share a lock: never take Lock on a second
// key while holding one (the quorum layer updates one key at a time).
func (s *Store) Lock(k Key) (unlock func()) {
	m := &s.locks[k.Hash%lockStripes]
	m.Lock()
	return m.Unlock
}

// Scan calls fn for every object with lo <= Hash <= hi, in hash order, over
// a consistent snapshot. A partition is such a range. A stored key or object
// that does not decode stops the scan with a [*CorruptError] naming it; fn's
// error stops it and is returned unchanged. The clock passed to fn is the
// caller's to keep.
func (s *Store) Scan(lo, hi uint64, fn func(k Key, c versioning.Clock) error) error {
	return s.scan("scan", lo, hi, func(k Key, raw, rawKey []byte) error {
		c, err := decodeObject(raw, false)
		if err != nil {
			return &CorruptError{Op: "scan", Key: k, RawKey: slices.Clone(rawKey), Err: err}
		}
		return fn(k, c)
	})
}

// ScanRaw is [Store.Scan] without decoding objects: raw is the encoded
// object (see [DecodeObject]), valid only until fn returns, and must not be
// modified. Only stored keys that do not parse are reported as corrupt.
func (s *Store) ScanRaw(lo, hi uint64, fn func(k Key, raw []byte) error) error {
	return s.scan("scan", lo, hi, func(k Key, raw, _ []byte) error { return fn(k, raw) })
}

// errStop marks an error from a callback, which scan returns unwrapped.
type errStop struct{ err error }

func (e *errStop) Error() string { return e.err.Error() }

func (s *Store) scan(op string, lo, hi uint64, fn func(k Key, raw, rawKey []byte) error) error {
	if lo > hi {
		return nil
	}
	start, end := objectRange(lo, hi)
	err := s.e.Scan(start, end, func(key, value []byte) error {
		k, err := parseObjectKey(key)
		if err != nil {
			return &errStop{&CorruptError{Op: op, RawKey: slices.Clone(key), Err: fmt.Errorf("%w: %w", ErrCorrupt, err)}}
		}
		if err := fn(k, value, key); err != nil {
			return &errStop{err}
		}
		return nil
	})
	var stop *errStop
	if errors.As(err, &stop) {
		return stop.err
	}
	if err != nil {
		return fmt.Errorf("storage: %s %016x-%016x: %w", op, lo, hi, err)
	}
	return nil
}

// Buckets returns, sorted, every bucket that ever stored an object on this
// node (the registry is never pruned).
func (s *Store) Buckets() []string {
	s.bucketsMu.RLock()
	out := make([]string, 0, len(s.buckets))
	for b := range s.buckets {
		out = append(out, b)
	}
	s.bucketsMu.RUnlock()
	slices.Sort(out)
	return out
}

func (s *Store) hintLock(hk []byte) *sync.Mutex {
	return &s.hintLocks[xxhash.Sum64(hk)%hintLockStripes]
}

// PutHint durably records that k must be delivered to node target (empty
// target is invalid). Storing a hint that exists is a no-op apart from
// making it durable with sync. With sync it survives a crash once PutHint
// returns.
func (s *Store) PutHint(target string, k Key, sync bool) error {
	if target == "" {
		return fmt.Errorf("storage: put hint %s: empty target", k)
	}
	hk := appendHintKey(nil, target, k)
	m := s.hintLock(hk)
	m.Lock()
	defer m.Unlock()
	_, err := s.e.Get(hk)
	existed := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("storage: put hint %q %s: %w", target, k, err)
	}
	if existed && !sync {
		return nil
	}
	if err := s.e.Put(hk, nil, sync); err != nil {
		return fmt.Errorf("storage: put hint %q %s: %w", target, k, err)
	}
	if !existed {
		s.hints.Add(1)
	}
	return nil
}

// DeleteHint drops the hint for (target, k), typically after delivering it;
// a missing hint is not an error. The deletion is not synced: if a crash
// loses it, the hint is delivered again, which is harmless.
func (s *Store) DeleteHint(target string, k Key) error {
	hk := appendHintKey(nil, target, k)
	m := s.hintLock(hk)
	m.Lock()
	defer m.Unlock()
	if _, err := s.e.Get(hk); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return fmt.Errorf("storage: delete hint %q %s: %w", target, k, err)
	}
	if err := s.e.Delete(hk, false); err != nil {
		return fmt.Errorf("storage: delete hint %q %s: %w", target, k, err)
	}
	s.hints.Add(-1)
	return nil
}

// Hints calls fn for every hint for target ("" = every target), over a
// consistent snapshot, grouped by target (shorter names first, as the key
// layout length-prefixes them) and in hash order within a target; fn may
// delete hints. A stored hint key that does not parse stops it with a
// [*CorruptError]; fn's error stops it and is returned unchanged.
func (s *Store) Hints(target string, fn func(target string, k Key) error) error {
	start := appendHintPrefix(nil, target)
	if target == "" {
		start = []byte{prefixHint}
	}
	err := s.e.Scan(start, prefixEnd(start), func(key, _ []byte) error {
		t, k, err := parseHintKey(key)
		if err != nil {
			return &errStop{&CorruptError{Op: "hints", RawKey: slices.Clone(key), Err: fmt.Errorf("%w: %w", ErrCorrupt, err)}}
		}
		if err := fn(t, k); err != nil {
			return &errStop{err}
		}
		return nil
	})
	var stop *errStop
	if errors.As(err, &stop) {
		return stop.err
	}
	if err != nil {
		return fmt.Errorf("storage: hints %q: %w", target, err)
	}
	return nil
}

// HintCount returns the number of stored hints. It is kept in memory and
// exact, except after a write error from the engine left it unknown whether
// a hint was written; the hints are recounted once the engine takes writes
// again (see [Store.Health]), and by the next NewStore.
func (s *Store) HintCount() int { return int(s.hints.Load()) }

// GetMeta returns the node metadata entry name, or an error wrapping
// [ErrNotFound].
func (s *Store) GetMeta(name string) ([]byte, error) {
	v, err := s.e.Get(append([]byte{prefixMeta}, name...))
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("storage: get meta %q: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("storage: get meta %q: %w", name, err)
	}
	return v, nil
}

// PutMeta stores the node metadata entry name, synced.
func (s *Store) PutMeta(name string, v []byte) error {
	if err := s.e.Put(append([]byte{prefixMeta}, name...), v, true); err != nil {
		return fmt.Errorf("storage: put meta %q: %w", name, err)
	}
	return nil
}

// Close closes the engine. It is idempotent.
func (s *Store) Close() error {
	s.closed.Store(true)
	return s.e.Close()
}
