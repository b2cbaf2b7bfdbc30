package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
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
	// unlocks[i] is locks[i].Unlock, made once: a method value made per
	// Lock call would be an allocation per write.
	unlocks [lockStripes]func()
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

	// cache holds recently used objects, encoded; nil when disabled.
	cache *objectCache
	// blobs keeps large objects in files; nil without a blob directory.
	blobs *blobStore
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
	// CacheBytes bounds the object cache (objects kept encoded), in bytes.
	// Default 256 MiB (the cache fills as objects are read and written);
	// negative disables it.
	CacheBytes int
	// BlobDir is the directory where objects of BlobBytes or more are
	// kept, a file each, out of the engine (see "Blob files" in the
	// package doc); NewStore creates it if missing. Default "": every
	// object is kept in the engine. Objects already in blob files are
	// reported corrupt by a Store without it.
	BlobDir string
	// BlobBytes is the encoded size from which an object goes to a blob
	// file. Default 256 KiB; zero means the default; must not be
	// negative.
	BlobBytes int

	// blobFS replaces BlobDir's files (tests).
	blobFS blobFS
}

// DefaultStoreOptions returns the options NewStore uses.
func DefaultStoreOptions() StoreOptions {
	return StoreOptions{CacheBytes: 256 << 20, BlobBytes: 256 << 10}
}

// Validate reports every invalid field.
func (o StoreOptions) Validate() error {
	if o.BlobBytes < 0 {
		return fmt.Errorf("storage: BlobBytes must be >= 0, got %d", o.BlobBytes)
	}
	return nil
}

// NewStore returns a Store over e, loading the bucket registry and counting
// the hints. The Store owns e: [Store.Close] closes it.
func NewStore(e Engine) (*Store, error) {
	return NewStoreOptions(e, DefaultStoreOptions())
}

// NewStoreOptions is NewStore with options.
func NewStoreOptions(e Engine, o StoreOptions) (*Store, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s := &Store{e: e, buckets: make(map[string]struct{}), cache: newObjectCache(o.CacheBytes)}
	for i := range s.locks {
		s.unlocks[i] = s.locks[i].Unlock
	}
	if o.BlobDir != "" && o.blobFS == nil {
		if err := os.MkdirAll(o.BlobDir, 0o755); err != nil {
			return nil, fmt.Errorf("storage: blob directory: %w", err)
		}
		o.blobFS = osBlobFS{dir: o.BlobDir}
	}
	if o.blobFS != nil {
		if o.BlobBytes == 0 {
			o.BlobBytes = DefaultStoreOptions().BlobBytes
		}
		b, err := openBlobStore(o.blobFS, o.BlobBytes, e)
		if err != nil {
			return nil, err
		}
		s.blobs = b
	}
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
	obj, c, decoded, err := s.get(k)
	if err != nil || decoded {
		return c, err
	}
	// obj is the cache's: shared, never modified, so data may alias it.
	c, err = decodeCached(obj)
	if err != nil { // the cache holds only what was encoded here or checked
		return versioning.Clock{}, &CorruptError{Op: "get", Key: k, RawKey: appendObjectKey(nil, k), Err: err}
	}
	return c, nil
}

// GetEncoded returns k's object as [AppendObject] encoded it, checked, with
// the errors of [Store.Get]. The bytes may be shared with the Store's
// cache: the caller must not modify them.
func (s *Store) GetEncoded(k Key) ([]byte, error) {
	obj, _, _, err := s.get(k)
	return obj, err
}

// get reads k's encoding from the cache or from the engine. It decodes what
// the engine gave, to check it before it caches it, and then returns the
// clock too (decoded).
func (s *Store) get(k Key) (obj []byte, c versioning.Clock, decoded bool, err error) {
	var gen uint64
	if s.cache != nil {
		obj, ok, g := s.cache.get(k)
		if ok {
			if s.closed.Load() {
				return nil, versioning.Clock{}, false, fmt.Errorf("storage: get %s: %w", k, ErrClosed)
			}
			return obj, versioning.Clock{}, false, nil
		}
		gen = g
	}
	buf := s.getBuf()
	defer s.putBuf(buf)
	*buf = appendObjectKey(*buf, k)
	raw, err := s.e.Get(*buf)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, versioning.Clock{}, false, ErrNotFound // as is: see ErrNotFound
		}
		return nil, versioning.Clock{}, false, fmt.Errorf("storage: get %s: %w", k, err)
	}
	if isBlobPointer(raw) {
		if raw, err = s.readBlob(k, *buf, raw); err != nil {
			return nil, versioning.Clock{}, false, err
		}
	}
	// raw is ours: the clock's data may alias it.
	if c, err = decodeObject(raw, true); err != nil {
		return nil, versioning.Clock{}, false, &CorruptError{Op: "get", Key: k, RawKey: slices.Clone(*buf), Err: err}
	}
	if s.cache != nil {
		s.cache.fill(k, raw, gen)
	}
	return raw, c, true, nil
}

// Put stores c as k's state, replacing what was there. It registers k's
// bucket in the same atomic write the first time the bucket is seen. c must
// pass [versioning.Clock.Validate]; an invalid clock is refused with an
// error wrapping versioning.ErrBadClock and nothing is written.
func (s *Store) Put(k Key, c versioning.Clock, sync bool) error {
	return s.put(k, c, nil, sync)
}

// PutEncoded is [Store.Put] of a clock already encoded: obj must be
// [AppendObject]'s encoding of c (a coordinator encodes a write once, to
// store it and to send it to the replicas). An obj of another length than
// c's encoding is refused. The Store keeps its own copy of obj's bytes and
// may keep c.
func (s *Store) PutEncoded(k Key, c versioning.Clock, obj []byte, sync bool) error {
	if len(obj) != objectSize(c) {
		return fmt.Errorf("storage: put %s: %d encoded bytes for a clock whose encoding has %d", k, len(obj), objectSize(c))
	}
	return s.put(k, c, obj, sync)
}

// put stores c, encoded as obj (nil: encode it here).
func (s *Store) put(k Key, c versioning.Clock, obj []byte, sync bool) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("storage: put %s: %w", k, err)
	}
	buf := s.getBuf()
	defer s.putBuf(buf)
	b := appendObjectKey(*buf, k)
	keyLen := len(b)
	if obj == nil {
		b = AppendObject(b, c)
		obj = b[keyLen:]
	}
	*buf = b
	key, val := b[:keyLen], obj

	old, oldPtr, err := s.oldBlob(k, key)
	if err != nil {
		return fmt.Errorf("storage: put %s: %w", k, err)
	}
	newPtr := s.blobs != nil && len(obj) >= s.blobs.minBytes
	if newPtr {
		r, err := s.blobs.write(k.Hash, obj)
		if err != nil {
			return fmt.Errorf("storage: put %s: %w: blob file: %w", k, ErrWriteFailed, err)
		}
		val = appendBlobPointer(make([]byte, 0, blobPointerMax), r)
	}
	// The file a pointer named goes once the write replacing it is durable.
	sync = sync || oldPtr

	if s.hasBucket(k.Bucket) {
		err = s.e.Put(key, val, sync)
	} else {
		var batch Batch
		batch.Put(append([]byte{prefixBucket}, k.Bucket...), nil)
		batch.Put(key, val)
		if err = s.e.Write(&batch, sync); err == nil {
			s.bucketsMu.Lock()
			s.buckets[k.Bucket] = struct{}{}
			s.bucketsMu.Unlock()
		}
	}
	if err != nil {
		s.cacheDrop(k)
		if s.blobs != nil {
			s.blobs.maybeStored(k.Hash, newPtr)
		}
		return fmt.Errorf("storage: put %s: %w", k, err)
	}
	s.cacheSet(k, obj)
	s.blobWritten(k, old, oldPtr, newPtr)
	return nil
}

// oldBlob returns the blob pointer stored under key (k's engine key), if
// any and if k's hash may have one; reading the pointer costs one engine
// read, made only for hashes that have pointers.
func (s *Store) oldBlob(k Key, key []byte) (blobRef, bool, error) {
	if s.blobs == nil || !s.blobs.mayHold(k.Hash) {
		return blobRef{}, false, nil
	}
	v, err := s.e.Get(key)
	switch {
	case errors.Is(err, ErrNotFound):
		return blobRef{}, false, nil
	case err != nil:
		return blobRef{}, false, err
	case !isBlobPointer(v):
		return blobRef{}, false, nil
	}
	r, err := parseBlobPointer(v)
	if err != nil {
		// A corrupt pointer names no file it could free; the sweep
		// removes the file once nothing names it.
		return blobRef{}, true, nil
	}
	return r, true, nil
}

// blobWritten accounts a successful write of k that replaced old (if
// oldPtr) and stored a pointer (if newPtr), and releases old's file.
func (s *Store) blobWritten(k Key, old blobRef, oldPtr, newPtr bool) {
	if s.blobs == nil {
		return
	}
	s.blobs.stored(k.Hash, oldPtr, newPtr)
	if oldPtr && old.size > 0 {
		s.blobs.release(k.Hash, old)
	}
}

// readBlob returns the object the pointer ptr, stored under key (k's
// engine key), names. If its file is gone (a write replaced the pointer
// after it was read), it reads the pointer again: the result may then be
// an object stored in the engine, or an error wrapping ErrNotFound.
func (s *Store) readBlob(k Key, key, ptr []byte) ([]byte, error) {
	corrupt := func(err error) error {
		if !errors.Is(err, ErrCorrupt) {
			err = fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return &CorruptError{Op: "get", Key: k, RawKey: slices.Clone(key), Err: err}
	}
	if s.blobs == nil {
		return nil, corrupt(errors.New("the object is in a blob file and the store has no blob directory"))
	}
	for attempt := 1; ; attempt++ {
		r, err := parseBlobPointer(ptr)
		if err != nil {
			return nil, corrupt(err)
		}
		obj, err := s.blobs.read(k.Hash, r, nil)
		switch {
		case err == nil:
			return obj, nil
		case errors.Is(err, ErrCorrupt):
			return nil, corrupt(err)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("storage: get %s: %w", k, err)
		case attempt == maxBlobReads:
			return nil, corrupt(err)
		}
		again, gerr := s.e.Get(key)
		switch {
		case errors.Is(gerr, ErrNotFound):
			return nil, fmt.Errorf("storage: get %s: %w", k, ErrNotFound)
		case gerr != nil:
			return nil, fmt.Errorf("storage: get %s: %w", k, gerr)
		case bytes.Equal(again, ptr):
			return nil, corrupt(err) // the pointer stands: its file is lost
		case !isBlobPointer(again):
			return again, nil
		}
		ptr = again
	}
}

// maxBlobReads bounds how often a Get reads a pointer whose file a
// concurrent write removed.
const maxBlobReads = 4

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
	old, oldPtr, err := s.oldBlob(k, *buf)
	if err != nil {
		return fmt.Errorf("storage: delete %s: %w", k, err)
	}
	err = s.e.Delete(*buf, sync || oldPtr)
	s.cacheDrop(k)
	if err != nil {
		return fmt.Errorf("storage: delete %s: %w", k, err)
	}
	s.blobWritten(k, old, oldPtr, false)
	return nil
}

func (s *Store) cacheSet(k Key, obj []byte) {
	if s.cache != nil {
		s.cache.set(k, obj)
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
	i := k.Hash % lockStripes
	s.locks[i].Lock()
	return s.unlocks[i]
}

// Scan calls fn for every object with lo <= Hash <= hi, in hash order, over
// a consistent snapshot. A partition is such a range. A stored key or object
// that does not decode stops the scan with a [*CorruptError] naming it; fn's
// error stops it and is returned unchanged. The clock passed to fn is the
// caller's to keep.
func (s *Store) Scan(lo, hi uint64, fn func(k Key, c versioning.Clock) error) error {
	return s.scan("scan", lo, hi, true, func(k Key, raw, rawKey []byte, owned bool) error {
		c, err := decodeObject(raw, owned)
		if err != nil {
			return &CorruptError{Op: "scan", Key: k, RawKey: slices.Clone(rawKey), Err: err}
		}
		return fn(k, c)
	})
}

// ScanRaw is [Store.Scan] without decoding objects: raw is the encoded
// object (see [DecodeObject]), valid only until fn returns, and must not be
// modified. Only stored keys that do not parse, and objects in blob files
// that cannot be read whole, are reported as corrupt.
func (s *Store) ScanRaw(lo, hi uint64, fn func(k Key, raw []byte) error) error {
	return s.scan("scan", lo, hi, false, func(k Key, raw, _ []byte, _ bool) error { return fn(k, raw) })
}

// errStop marks an error from a callback, which scan returns unwrapped.
type errStop struct{ err error }

func (e *errStop) Error() string { return e.err.Error() }

// scan calls fn with each object's encoding: raw is the engine's (valid
// until fn returns) or, for an object in a blob file, read from the file:
// into a fresh buffer that fn owns if fresh, else into one reused for the
// next (owned tells which).
func (s *Store) scan(op string, lo, hi uint64, fresh bool, fn func(k Key, raw, rawKey []byte, owned bool) error) error {
	if lo > hi {
		return nil
	}
	var blobBuf []byte
	if s.blobs != nil {
		// Registered before the engine takes its snapshot: no file a
		// pointer in the snapshot names is removed before the scan ends.
		epoch := s.blobs.beginRead()
		defer s.blobs.endRead(epoch)
	}
	start, end := objectRange(lo, hi)
	err := s.e.Scan(start, end, func(key, value []byte) error {
		k, err := parseObjectKey(key)
		if err != nil {
			return &errStop{&CorruptError{Op: op, RawKey: slices.Clone(key), Err: fmt.Errorf("%w: %w", ErrCorrupt, err)}}
		}
		owned := false
		if isBlobPointer(value) {
			if value, err = s.scanBlob(op, k, key, value, blobBuf, fresh); err != nil {
				return &errStop{err}
			}
			owned = fresh
			if !fresh {
				blobBuf = value
			}
		}
		if err := fn(k, value, key, owned); err != nil {
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

// scanBlob reads the object that ptr, met by a scan, names: into a new
// buffer if fresh, else into buf if it is large enough.
func (s *Store) scanBlob(op string, k Key, key, ptr, buf []byte, fresh bool) ([]byte, error) {
	corrupt := func(err error) error {
		if !errors.Is(err, ErrCorrupt) {
			err = fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return &CorruptError{Op: op, Key: k, RawKey: slices.Clone(key), Err: err}
	}
	if s.blobs == nil {
		return nil, corrupt(errors.New("the object is in a blob file and the store has no blob directory"))
	}
	r, err := parseBlobPointer(ptr)
	if err != nil {
		return nil, corrupt(err)
	}
	if fresh {
		buf = nil
	}
	obj, err := s.blobs.read(k.Hash, r, buf)
	switch {
	case err == nil:
		return obj, nil
	case errors.Is(err, ErrCorrupt), errors.Is(err, fs.ErrNotExist):
		// The scan's registration keeps every file its snapshot names.
		return nil, corrupt(err)
	}
	return nil, fmt.Errorf("storage: %s %s: %w", op, k, err)
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
