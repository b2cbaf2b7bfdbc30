package storage

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/syndtr/goleveldb/leveldb"
	lverrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
	lvstorage "github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// LevelDBOptions tunes a [LevelDB] engine. The zero value takes every
// default; [DefaultLevelDBOptions] spells them out.
type LevelDBOptions struct {
	// BlockCacheSize is the capacity of the cache of uncompressed table
	// blocks, in bytes. Default 32 MiB; zero means the default; must not be
	// negative.
	BlockCacheSize int
	// WriteBufferSize is the size of the memtable (and of the journal
	// between flushes), in bytes. Larger buffers absorb write bursts but
	// lengthen recovery after a crash. Default 8 MiB; zero means the
	// default; must not be negative. goleveldb allocates it up front.
	WriteBufferSize int
	// BloomBitsPerKey sizes the per-table bloom filter that lets a Get of a
	// missing key (common in read repair) skip tables. Default 10 (about 1%
	// false positives); zero means the default; negative disables it.
	BloomBitsPerKey int
}

// DefaultLevelDBOptions returns the options OpenLevelDB uses for zero fields.
func DefaultLevelDBOptions() LevelDBOptions {
	return LevelDBOptions{
		BlockCacheSize:  32 << 20,
		WriteBufferSize: 8 << 20,
		BloomBitsPerKey: 10,
	}
}

// Validate reports every invalid field.
func (o LevelDBOptions) Validate() error {
	var errs []error
	if o.BlockCacheSize < 0 {
		errs = append(errs, fmt.Errorf("storage: BlockCacheSize must be >= 0, got %d", o.BlockCacheSize))
	}
	if o.WriteBufferSize < 0 {
		errs = append(errs, fmt.Errorf("storage: WriteBufferSize must be >= 0, got %d", o.WriteBufferSize))
	}
	return errors.Join(errs...)
}

// withDefaults fills zero fields from DefaultLevelDBOptions.
func (o LevelDBOptions) withDefaults() LevelDBOptions {
	d := DefaultLevelDBOptions()
	if o.BlockCacheSize == 0 {
		o.BlockCacheSize = d.BlockCacheSize
	}
	if o.WriteBufferSize == 0 {
		o.WriteBufferSize = d.WriteBufferSize
	}
	if o.BloomBitsPerKey == 0 {
		o.BloomBitsPerKey = d.BloomBitsPerKey
	}
	return o
}

func (o LevelDBOptions) goleveldb() *opt.Options {
	o = o.withDefaults()
	lo := &opt.Options{
		BlockCacheCapacity: o.BlockCacheSize,
		WriteBuffer:        o.WriteBufferSize,
	}
	if o.BloomBitsPerKey > 0 {
		lo.Filter = filter.NewBloomFilter(o.BloomBitsPerKey)
	}
	return lo
}

// LevelDB is an [Engine] on goleveldb. A data directory is held by one
// LevelDB at a time, across processes (a lock file). It fails stop: after
// the first write error every write is refused until the database is
// reopened (see [LevelDB.Err]).
type LevelDB struct {
	db   *leveldb.DB
	stor lvstorage.Storage // owned: closed after db
	name string            // directory, for errors

	// state counts calls in progress in its low bits; closedBit is set by
	// Close, after which calls are refused and Close waits for the count to
	// drain to zero before closing the database.
	state     atomic.Int64
	drained   chan struct{} // closed when the count reaches zero after closedBit is set
	drainOnce sync.Once
	closing   atomic.Bool
	done      chan struct{} // closed when Close has finished
	closeErr  error         // written before done is closed
	batches   sync.Pool     // *leveldb.Batch, for Write

	// failed holds the first write error. goleveldb keeps appending to its
	// journal after a failed or torn write, and on recovery it drops the
	// rest of the damaged journal block, so writes acknowledged after the
	// failure could vanish. Like LevelDB's and RocksDB's background error,
	// the first write error therefore fails every later write until the
	// database is reopened. Reads keep working.
	failed atomic.Pointer[error]
}

var _ Engine = (*LevelDB)(nil)

const closedBit = 1 << 62

// OpenLevelDB opens or creates a goleveldb database in dir. A directory
// locked by another process gives an error wrapping [ErrLocked]; a corrupt
// database gives one wrapping [ErrCorrupt] (see [RecoverLevelDB]).
func OpenLevelDB(dir string, o LevelDBOptions) (*LevelDB, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	stor, err := lvstorage.OpenFile(dir, false)
	if err != nil {
		return nil, openError("open", dir, err)
	}
	return openLevelDB(stor, dir, o, false)
}

// OpenLevelDBStorage opens or creates a goleveldb database over stor, the
// file-system seam of goleveldb: tests wrap it to inject I/O faults. The
// engine owns stor from then on, also when opening fails, and closes it.
func OpenLevelDBStorage(stor lvstorage.Storage, o LevelDBOptions) (*LevelDB, error) {
	if err := o.Validate(); err != nil {
		stor.Close()
		return nil, err
	}
	return openLevelDB(stor, "storage", o, false)
}

// RecoverLevelDB opens the database in dir after rebuilding its manifest
// from the table files, as goleveldb's Recover does: the way back from an
// [ErrCorrupt] manifest. Writes that only reached a corrupt journal or table
// are lost, so replicas should be repaired by anti-entropy afterwards.
func RecoverLevelDB(dir string, o LevelDBOptions) (*LevelDB, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	stor, err := lvstorage.OpenFile(dir, false)
	if err != nil {
		return nil, openError("recover", dir, err)
	}
	return openLevelDB(stor, dir, o, true)
}

func openLevelDB(stor lvstorage.Storage, name string, o LevelDBOptions, recover bool) (*LevelDB, error) {
	var (
		db  *leveldb.DB
		err error
	)
	if recover {
		db, err = leveldb.Recover(stor, o.goleveldb())
	} else {
		db, err = leveldb.Open(stor, o.goleveldb())
	}
	if err != nil {
		stor.Close()
		op := "open"
		if recover {
			op = "recover"
		}
		return nil, openError(op, name, err)
	}
	l := &LevelDB{
		db:      db,
		stor:    stor,
		name:    name,
		drained: make(chan struct{}),
		done:    make(chan struct{}),
	}
	l.batches.New = func() any { return new(leveldb.Batch) }
	return l, nil
}

// openError classifies an error from opening a database.
func openError(op, dir string, err error) error {
	switch {
	case errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, lvstorage.ErrLocked):
		return fmt.Errorf("storage: %s leveldb %s: %w: another process (or engine) holds its lock: %w", op, dir, ErrLocked, err)
	case isLevelDBCorrupt(err):
		return fmt.Errorf("storage: %s leveldb %s: %w: %w (recovery may be possible with storage.RecoverLevelDB; back the directory up first)", op, dir, ErrCorrupt, err)
	}
	return fmt.Errorf("storage: %s leveldb %s: %w", op, dir, err)
}

func isLevelDBCorrupt(err error) bool {
	var c1 *lverrors.ErrCorrupted
	var c2 *lvstorage.ErrCorrupted
	return errors.As(err, &c1) || errors.As(err, &c2) || lverrors.IsCorrupted(err)
}

// enter registers a call in progress; it fails once Close has begun.
func (l *LevelDB) enter() bool {
	if l.state.Add(1)&closedBit != 0 {
		l.exit()
		return false
	}
	return true
}

// exit ends a call registered by enter.
func (l *LevelDB) exit() {
	if l.state.Add(-1) == closedBit {
		l.drainOnce.Do(func() { close(l.drained) })
	}
}

// wrapError maps a goleveldb error onto this package's sentinels, naming
// the operation and key (nil for a batch).
func (l *LevelDB) wrapError(op string, key []byte, err error) error {
	what := op
	if key != nil {
		what = fmt.Sprintf("%s %x", op, key)
	}
	switch {
	case errors.Is(err, leveldb.ErrNotFound):
		return fmt.Errorf("storage: leveldb %s: %w", what, ErrNotFound)
	case errors.Is(err, leveldb.ErrClosed), errors.Is(err, lvstorage.ErrClosed):
		return fmt.Errorf("storage: leveldb %s: %w", what, ErrClosed)
	case isLevelDBCorrupt(err):
		return fmt.Errorf("storage: leveldb %s: %w: %w", what, ErrCorrupt, err)
	}
	return fmt.Errorf("storage: leveldb %s: %w", what, err)
}

func (l *LevelDB) closedError(op string, key []byte) error {
	return fmt.Errorf("storage: leveldb %s %x: %w", op, key, ErrClosed)
}

var (
	syncWrite  = &opt.WriteOptions{Sync: true}
	asyncWrite = &opt.WriteOptions{}
	// Scans are bulk reads (anti-entropy, handoff, listings); keep them from
	// evicting the working set of point reads.
	scanRead = &opt.ReadOptions{DontFillCache: true}
)

func writeOptions(sync bool) *opt.WriteOptions {
	if sync {
		return syncWrite
	}
	return asyncWrite
}

// Err returns the write error that put the engine in its failed state, or
// nil. Once set, every write fails with an error wrapping it until the
// database is closed and reopened.
func (l *LevelDB) Err() error {
	if p := l.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// writeError records err as the engine's failure (if it is the first) and
// returns it wrapped for op.
func (l *LevelDB) writeError(op string, key []byte, err error) error {
	err = l.wrapError(op, key, err)
	if !errors.Is(err, ErrClosed) {
		l.failed.CompareAndSwap(nil, &err)
	}
	return err
}

// checkFailed returns the error for a write refused because of an earlier
// write error, or nil.
func (l *LevelDB) checkFailed(op string, key []byte) error {
	if p := l.failed.Load(); p != nil {
		if key == nil {
			return fmt.Errorf("storage: leveldb %s: refused after an earlier write error, reopen the database: %w", op, *p)
		}
		return fmt.Errorf("storage: leveldb %s %x: refused after an earlier write error, reopen the database: %w", op, key, *p)
	}
	return nil
}

// Get implements [Engine.Get].
func (l *LevelDB) Get(key []byte) ([]byte, error) {
	if !l.enter() {
		return nil, l.closedError("get", key)
	}
	defer l.exit()
	v, err := l.db.Get(key, nil) // goleveldb returns a fresh copy
	if err != nil {
		return nil, l.wrapError("get", key, err)
	}
	return v, nil
}

// Put implements [Engine.Put].
func (l *LevelDB) Put(key, value []byte, sync bool) error {
	if !l.enter() {
		return l.closedError("put", key)
	}
	defer l.exit()
	if err := l.checkFailed("put", key); err != nil {
		return err
	}
	if err := l.db.Put(key, value, writeOptions(sync)); err != nil {
		return l.writeError("put", key, err)
	}
	return nil
}

// Delete implements [Engine.Delete].
func (l *LevelDB) Delete(key []byte, sync bool) error {
	if !l.enter() {
		return l.closedError("delete", key)
	}
	defer l.exit()
	if err := l.checkFailed("delete", key); err != nil {
		return err
	}
	if err := l.db.Delete(key, writeOptions(sync)); err != nil {
		return l.writeError("delete", key, err)
	}
	return nil
}

// Write implements [Engine.Write].
func (l *LevelDB) Write(b *Batch, sync bool) error {
	if !l.enter() {
		return fmt.Errorf("storage: leveldb write: %w", ErrClosed)
	}
	defer l.exit()
	if err := l.checkFailed("write", nil); err != nil {
		return err
	}
	lb := l.batches.Get().(*leveldb.Batch)
	defer func() {
		lb.Reset()
		l.batches.Put(lb)
	}()
	b.each(func(kind opKind, key, value []byte) {
		if kind == opPut {
			lb.Put(key, value)
		} else {
			lb.Delete(key)
		}
	})
	if err := l.db.Write(lb, writeOptions(sync)); err != nil {
		return l.writeError("write", nil, err)
	}
	return nil
}

// Scan implements [Engine.Scan]. A goleveldb iterator reads a snapshot.
func (l *LevelDB) Scan(start, end []byte, fn func(key, value []byte) error) error {
	if !l.enter() {
		return fmt.Errorf("storage: leveldb scan %x-%x: %w", start, end, ErrClosed)
	}
	defer l.exit()
	if start != nil && end != nil && bytes.Compare(start, end) >= 0 {
		return nil
	}
	it := l.db.NewIterator(&util.Range{Start: start, Limit: end}, scanRead)
	defer it.Release()
	for it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return l.wrapError("scan", start, err)
	}
	return nil
}

// Close implements [Engine.Close]: it refuses new calls, waits for calls in
// progress (so it must not be called from a Scan callback), then closes the
// database and its storage.
func (l *LevelDB) Close() error {
	if !l.closing.CompareAndSwap(false, true) {
		<-l.done
		return nil
	}
	if l.state.Add(closedBit) != closedBit {
		<-l.drained
	}
	err := l.db.Close()
	if serr := l.stor.Close(); err == nil {
		err = serr
	}
	if err != nil {
		l.closeErr = fmt.Errorf("storage: close leveldb %s: %w", l.name, err)
	}
	close(l.done)
	return l.closeErr
}
