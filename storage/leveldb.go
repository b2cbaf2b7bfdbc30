package storage

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

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
	// blocks, in bytes. Default 256 MiB (dynamod serve sizes it from the
	// machine's memory); zero means the default; must not be negative.
	BlockCacheSize int
	// WriteBufferSize is the size of the memtable (and of the journal
	// between flushes), in bytes. Larger buffers absorb write bursts but
	// lengthen recovery after a crash. Default 64 MiB; zero means the
	// default; must not be negative. goleveldb allocates it up front.
	// A smaller buffer costs less CPU per write on a small, hot key set
	// and compacts level 0 more often on a large one (docs/benchmarks.md,
	// "Paired runs, and the write buffer again").
	WriteBufferSize int
	// BloomBitsPerKey sizes the per-table bloom filter that lets a Get of a
	// missing key (common in read repair) skip tables. Default 10 (about 1%
	// false positives); zero means the default; negative disables it.
	BloomBitsPerKey int
	// TableSize is the size at which a flush or compaction starts a new
	// table file, in bytes. Larger tables mean fewer files, fewer
	// compactions and fewer index lookups per read. Default 2 MiB; zero
	// means the default; must not be negative.
	TableSize int
	// LevelSize is the total size of the tables of level 1, in bytes
	// (level 0 holds the flushed write buffers); each deeper level holds
	// ten times the one above it. Larger levels mean fewer levels for the
	// same data, so each write is rewritten fewer times, but each
	// compaction into level 1 rewrites more of it. Default 100 MiB; zero
	// means the default; must not be negative.
	LevelSize int
	// Compression is how table blocks are compressed. Default
	// [CompressNone]; zero means the default.
	Compression Compression
	// SeekCompaction lets reads trigger compactions: goleveldb compacts a
	// table after enough reads had to look at it in vain. Default off.
	SeekCompaction bool
	// ReopenBackoff is the wait before the first reopen after a write
	// error; each failed reopen doubles it, up to ReopenMaxBackoff.
	// Defaults 1 s and 30 s; zero means the default; must not be negative.
	ReopenBackoff    time.Duration
	ReopenMaxBackoff time.Duration
}

// Compression is a table block compression of [LevelDBOptions].
type Compression int

// The compressions. Zero is unset: the default.
const (
	// CompressSnappy compresses every table block with snappy, whether
	// that pays or not (goleveldb keeps the compressed block even when it
	// is larger).
	CompressSnappy Compression = 1 + iota
	// CompressNone stores table blocks as they are.
	CompressNone
)

func (c Compression) String() string {
	switch c {
	case 0:
		return "default"
	case CompressSnappy:
		return "snappy"
	case CompressNone:
		return "none"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// DefaultLevelDBOptions returns the options OpenLevelDB uses for zero fields.
func DefaultLevelDBOptions() LevelDBOptions {
	return LevelDBOptions{
		BlockCacheSize:   256 << 20,
		WriteBufferSize:  64 << 20,
		BloomBitsPerKey:  10,
		TableSize:        2 << 20,
		LevelSize:        100 << 20,
		Compression:      CompressNone,
		ReopenBackoff:    time.Second,
		ReopenMaxBackoff: 30 * time.Second,
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
	if o.TableSize < 0 {
		errs = append(errs, fmt.Errorf("storage: TableSize must be >= 0, got %d", o.TableSize))
	}
	if o.LevelSize < 0 {
		errs = append(errs, fmt.Errorf("storage: LevelSize must be >= 0, got %d", o.LevelSize))
	}
	if o.Compression < 0 || o.Compression > CompressNone {
		errs = append(errs, fmt.Errorf("storage: Compression must be CompressSnappy or CompressNone, got %v", o.Compression))
	}
	if o.ReopenBackoff < 0 {
		errs = append(errs, fmt.Errorf("storage: ReopenBackoff must be >= 0, got %v", o.ReopenBackoff))
	}
	if o.ReopenMaxBackoff < 0 {
		errs = append(errs, fmt.Errorf("storage: ReopenMaxBackoff must be >= 0, got %v", o.ReopenMaxBackoff))
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
	if o.TableSize == 0 {
		o.TableSize = d.TableSize
	}
	if o.LevelSize == 0 {
		o.LevelSize = d.LevelSize
	}
	if o.Compression == 0 {
		o.Compression = d.Compression
	}
	if o.ReopenBackoff == 0 {
		o.ReopenBackoff = d.ReopenBackoff
	}
	if o.ReopenMaxBackoff == 0 {
		o.ReopenMaxBackoff = d.ReopenMaxBackoff
	}
	o.ReopenMaxBackoff = max(o.ReopenMaxBackoff, o.ReopenBackoff)
	return o
}

func (o LevelDBOptions) goleveldb() *opt.Options {
	o = o.withDefaults()
	lo := &opt.Options{
		BlockCacheCapacity:     o.BlockCacheSize,
		WriteBuffer:            o.WriteBufferSize,
		CompactionTableSize:    o.TableSize,
		CompactionTotalSize:    max(o.LevelSize/10, 1), // goleveldb's level n holds this × 10^n
		Compression:            opt.SnappyCompression,
		DisableSeeksCompaction: !o.SeekCompaction,
	}
	if o.Compression == CompressNone {
		lo.Compression = opt.NoCompression
	}
	if o.BloomBitsPerKey > 0 {
		lo.Filter = filter.NewBloomFilter(o.BloomBitsPerKey)
	}
	return lo
}

// LevelDB is an [Engine] on goleveldb. A data directory is held by one
// LevelDB at a time, across processes (a lock file).
//
// It fails stop and recovers by reopening. goleveldb keeps appending to its
// journal after a failed or torn write, and on recovery it drops the rest
// of the damaged journal block, so writes acknowledged after a failure could
// vanish. Like LevelDB's and RocksDB's background error, the first write
// error (a full disk, an I/O error) therefore refuses every later write,
// with an error wrapping [ErrWriteFailed]. A background loop then closes
// the database and opens it again, after ReopenBackoff and then doubling up
// to ReopenMaxBackoff: opening replays the journal up to the damage, writes
// it to a table and starts a new journal, so no write taken afterwards
// follows a torn record. Writes are taken again only once a reopen
// succeeds. Reads keep working: from the failed database until the first
// attempt, then, while reopening fails (the disk is still full), from the
// database opened read-only. [LevelDB.Health] reports the state; Close ends
// the loop.
type LevelDB struct {
	// db is the open database: read-write while failed is nil, read-only
	// or nil (nothing could be opened) after a failed reopen. It changes
	// only while a reopen has paused every call.
	db    atomic.Pointer[leveldb.DB]
	stor  lvstorage.Storage // owned: closed after db
	name  string            // directory, for errors
	lopts *opt.Options      // to reopen

	backoff, maxBackoff time.Duration

	// state counts calls in progress in its low bits (countMask). A reopen
	// sets pauseBit: new calls wait until it ends, and the reopen waits a
	// bounded time for the count to drain to zero before it swaps db.
	// closedBit is set by Close, after which calls are refused and Close
	// waits for the count to drain to zero before closing the database.
	// The two are never set together: Close first waits for the reopen
	// loop to end.
	state     atomic.Int64
	drained   chan struct{} // closed when the count reaches zero after closedBit is set
	drainOnce sync.Once
	paused    chan struct{} // (buffered) signalled when the count reaches zero while paused
	done      chan struct{} // closed when Close has finished
	closeErr  error         // written before done is closed
	batches   sync.Pool     // *leveldb.Batch, for Write and group commits
	group     groupCommit   // Put's unsynced writes, written together
	writes    writeStats    // every write into goleveldb (EngineStats)

	// failed is the write failure that makes writes refused, nil while
	// they are taken. Only a successful reopen clears it.
	failed atomic.Pointer[failure]

	// stop is closed by Close: it ends the reopen loop. loops tracks that
	// loop (at most one runs at a time).
	stop  chan struct{}
	loops sync.WaitGroup

	mu      sync.Mutex // guards the fields below
	closing bool
	resume  chan struct{} // closed when the current pause ends; nil before the first
	// The reopen state Health reports.
	attempts      int       // failed reopens since the failure
	lastReopenErr string    // the last one's error
	next          time.Time // when the next reopen is tried
	readable      bool      // a database is open (false after every open failed)
	reopens       uint64    // successful reopens, ever
	notify        func(Health)
}

// failure is the write error that stopped writes, and when.
type failure struct {
	err   error
	since time.Time
}

var _ Engine = (*LevelDB)(nil)

const (
	closedBit = 1 << 62
	pauseBit  = 1 << 61
	countMask = pauseBit - 1
)

// reopenDrainTimeout bounds how long a reopen waits for calls in progress
// (a long scan, or a call made from a scan's callback, which waits for the
// pause to end) before it gives up and tries again after its backoff.
var reopenDrainTimeout = 2 * time.Second

// maxEnterWaits bounds how many reopens one call waits for.
const maxEnterWaits = 4

// errReopenBusy is returned by a call that waited for maxEnterWaits reopens.
var errReopenBusy = errors.New("storage: the database is being reopened, try again")

// errStopping ends a reopen because Close has begun.
var errStopping = errors.New("storage: closing")

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
	// See tablebuf.go and journalrm.go.
	stor = newJournalRemover(tableBuffered{stor})
	var (
		db  *leveldb.DB
		err error
	)
	lo := o.goleveldb()
	if recover {
		db, err = leveldb.Recover(stor, lo)
	} else {
		db, err = leveldb.Open(stor, lo)
	}
	if err != nil {
		stor.Close()
		op := "open"
		if recover {
			op = "recover"
		}
		return nil, openError(op, name, err)
	}
	o = o.withDefaults()
	l := &LevelDB{
		stor:       stor,
		name:       name,
		lopts:      lo,
		backoff:    o.ReopenBackoff,
		maxBackoff: o.ReopenMaxBackoff,
		drained:    make(chan struct{}),
		paused:     make(chan struct{}, 1),
		done:       make(chan struct{}),
		stop:       make(chan struct{}),
		readable:   true,
	}
	l.db.Store(db)
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

// enter registers a call in progress and returns the database to use. It
// fails once Close has begun (ErrClosed), waits while a reopen swaps the
// database, and fails if no database could be opened.
func (l *LevelDB) enter(op string, key []byte) (*leveldb.DB, error) {
	for range maxEnterWaits {
		s := l.state.Add(1)
		if s&closedBit != 0 {
			l.exit()
			return nil, l.callError(op, key, ErrClosed)
		}
		if s&pauseBit == 0 {
			if db := l.db.Load(); db != nil {
				return db, nil
			}
			l.exit()
			return nil, l.notOpen(op, key)
		}
		l.exit()
		l.mu.Lock()
		resume := l.resume // set before pauseBit, never nil again
		l.mu.Unlock()
		<-resume
	}
	return nil, l.callError(op, key, errReopenBusy)
}

// exit ends a call registered by enter.
func (l *LevelDB) exit() {
	switch l.state.Add(-1) {
	case closedBit:
		l.drainOnce.Do(func() { close(l.drained) })
	case pauseBit:
		select {
		case l.paused <- struct{}{}:
		default:
		}
	}
}

// callError names op and key (nil for a batch) in err.
func (l *LevelDB) callError(op string, key []byte, err error) error {
	if key == nil {
		return fmt.Errorf("storage: leveldb %s: %w", op, err)
	}
	return fmt.Errorf("storage: leveldb %s %x: %w", op, key, err)
}

// notOpen is the error of a call made while no database is open: a reopen
// failed and so did opening the database read-only.
func (l *LevelDB) notOpen(op string, key []byte) error {
	cause := errors.New("no database open")
	if f := l.failed.Load(); f != nil {
		cause = fmt.Errorf("no database open after a failed reopen: %w", f.err)
	}
	return l.callError(op, key, cause)
}

// wrapError maps a goleveldb error onto this package's sentinels, naming
// the operation and key (nil for a batch).
func (l *LevelDB) wrapError(op string, key []byte, err error) error {
	switch {
	case errors.Is(err, leveldb.ErrNotFound):
		return ErrNotFound // as is: see ErrNotFound
	case errors.Is(err, leveldb.ErrClosed), errors.Is(err, lvstorage.ErrClosed):
		return l.callError(op, key, ErrClosed)
	case isLevelDBCorrupt(err):
		return l.callError(op, key, fmt.Errorf("%w: %w", ErrCorrupt, err))
	}
	return l.callError(op, key, err)
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
// nil. Once set, every write fails with an error wrapping it until a
// reopen succeeds.
func (l *LevelDB) Err() error {
	if f := l.failed.Load(); f != nil {
		return f.err
	}
	return nil
}

// Health implements the engine side of [Store.Health].
func (l *LevelDB) Health() Health {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.healthLocked()
}

func (l *LevelDB) healthLocked() Health {
	h := Health{Writable: true, Readable: true, Reopens: l.reopens}
	if f := l.failed.Load(); f != nil {
		h.Writable = false
		h.Readable = l.readable
		h.Error = f.err.Error()
		h.Since = f.since
		h.ReopenAttempts = l.attempts
		h.LastReopenError = l.lastReopenErr
		if !l.closing {
			h.NextReopen = l.next
		}
	}
	return h
}

// setHealthFunc implements healthEngine.
func (l *LevelDB) setHealthFunc(f func(Health)) {
	l.mu.Lock()
	l.notify = f
	l.mu.Unlock()
}

// notifyHealth calls the health observer, if any, with the current state.
// No lock is held during the call: the observer may wait for callers that
// fail a write meanwhile and notify in turn (the Store's hint recount takes
// the hint locks). So two notifications of a new failure and of the reopen
// just before it may arrive in either order; the state itself is always
// current.
func (l *LevelDB) notifyHealth() {
	l.mu.Lock()
	f, h := l.notify, l.healthLocked()
	l.mu.Unlock()
	if f != nil {
		f(h)
	}
}

// writeError records err as the engine's failure (if it is the first,
// which starts the reopen loop) and returns it wrapped for op.
func (l *LevelDB) writeError(op string, key []byte, err error) error {
	if errors.Is(err, leveldb.ErrClosed) || errors.Is(err, lvstorage.ErrClosed) {
		return l.callError(op, key, ErrClosed)
	}
	f := &failure{err: fmt.Errorf("storage: leveldb %s: %w: %w", op, ErrWriteFailed, err), since: time.Now()}
	if l.failed.CompareAndSwap(nil, f) {
		l.startReopen()
	}
	return l.callError(op, key, fmt.Errorf("%w: %w", ErrWriteFailed, err))
}

// startReopen starts the reopen loop after a failure, unless Close has
// begun.
func (l *LevelDB) startReopen() {
	l.mu.Lock()
	l.attempts, l.lastReopenErr = 0, ""
	l.next = time.Now().Add(l.backoff)
	if !l.closing {
		l.loops.Go(l.reopenLoop)
	}
	l.mu.Unlock()
	l.notifyHealth()
}

// checkFailed returns the error for a write refused because of an earlier
// write error, or nil.
func (l *LevelDB) checkFailed(op string, key []byte) error {
	if f := l.failed.Load(); f != nil {
		return l.callError(op, key, fmt.Errorf("refused after an earlier write error until the database is reopened: %w", f.err))
	}
	return nil
}

// reopenLoop reopens the database until a reopen succeeds or Close begins,
// waiting the backoff before each attempt.
func (l *LevelDB) reopenLoop() {
	delay := l.backoff
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		err := l.reopen()
		if errors.Is(err, errStopping) {
			return
		}
		if err == nil {
			l.notifyHealth()
			return
		}
		delay = min(delay*2, l.maxBackoff)
		l.mu.Lock()
		l.attempts++
		l.lastReopenErr = err.Error()
		l.next = time.Now().Add(delay)
		l.mu.Unlock()
		l.notifyHealth()
		t.Reset(delay)
	}
}

// reopen closes the database and opens it again; on success it clears the
// failure. If opening fails it opens the database read-only, so that reads
// go on, and returns the error.
func (l *LevelDB) reopen() error {
	if err := l.pause(); err != nil {
		return err
	}
	defer l.unpause()
	if old := l.db.Swap(nil); old != nil {
		// Its error, if any, is the failure being recovered from.
		_ = old.Close()
	}
	o := *l.lopts
	o.ErrorIfMissing = true // a reopen must never start an empty database
	db, err := leveldb.Open(l.stor, &o)
	if err != nil {
		o.ReadOnly = true
		rdb, rerr := leveldb.Open(l.stor, &o)
		if rerr == nil {
			l.db.Store(rdb)
		}
		l.mu.Lock()
		l.readable = rerr == nil
		l.mu.Unlock()
		return openError("reopen", l.name, err)
	}
	l.db.Store(db)
	l.mu.Lock()
	l.readable = true
	l.reopens++
	l.attempts, l.lastReopenErr, l.next = 0, "", time.Time{}
	l.failed.Store(nil) // still paused: no write sees the old database
	l.mu.Unlock()
	return nil
}

// pause makes new calls wait and waits, for reopenDrainTimeout at most,
// until no call is in progress. On success the caller must call unpause.
func (l *LevelDB) pause() error {
	select {
	case <-l.paused: // a stale signal
	default:
	}
	l.mu.Lock()
	l.resume = make(chan struct{})
	l.mu.Unlock()
	l.state.Add(pauseBit)
	t := time.NewTimer(reopenDrainTimeout)
	defer t.Stop()
	for l.state.Load()&countMask != 0 {
		select {
		case <-l.paused:
		case <-t.C:
			l.unpause()
			return fmt.Errorf("storage: reopen leveldb %s: calls in progress did not end within %v", l.name, reopenDrainTimeout)
		case <-l.stop:
			l.unpause()
			return errStopping
		}
	}
	return nil
}

// unpause ends a pause: waiting calls go on.
func (l *LevelDB) unpause() {
	l.state.Add(-pauseBit)
	l.mu.Lock()
	close(l.resume)
	l.mu.Unlock()
}

// Get implements [Engine.Get].
func (l *LevelDB) Get(key []byte) ([]byte, error) {
	db, err := l.enter("get", key)
	if err != nil {
		return nil, err
	}
	defer l.exit()
	v, err := db.Get(key, nil) // goleveldb returns a fresh copy
	if err != nil {
		return nil, l.wrapError("get", key, err)
	}
	return v, nil
}

// Put implements [Engine.Put].
func (l *LevelDB) Put(key, value []byte, sync bool) error {
	db, err := l.enter("put", key)
	if err != nil {
		return err
	}
	defer l.exit()
	if err := l.checkFailed("put", key); err != nil {
		return err
	}
	if sync {
		start := time.Now()
		err = db.Put(key, value, syncWrite)
		l.writes.observe(start)
	} else {
		err = l.group.put(db, &l.batches, &l.writes, key, value)
	}
	if err != nil {
		return l.writeError("put", key, err)
	}
	return nil
}

// Delete implements [Engine.Delete].
func (l *LevelDB) Delete(key []byte, sync bool) error {
	db, err := l.enter("delete", key)
	if err != nil {
		return err
	}
	defer l.exit()
	if err := l.checkFailed("delete", key); err != nil {
		return err
	}
	start := time.Now()
	err = db.Delete(key, writeOptions(sync))
	l.writes.observe(start)
	if err != nil {
		return l.writeError("delete", key, err)
	}
	return nil
}

// Write implements [Engine.Write].
func (l *LevelDB) Write(b *Batch, sync bool) error {
	db, err := l.enter("write", nil)
	if err != nil {
		return err
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
	start := time.Now()
	err = db.Write(lb, writeOptions(sync))
	l.writes.observe(start)
	if err != nil {
		return l.writeError("write", nil, err)
	}
	return nil
}

// Scan implements [Engine.Scan]. A goleveldb iterator reads a snapshot.
func (l *LevelDB) Scan(start, end []byte, fn func(key, value []byte) error) error {
	db, err := l.enter("scan", start)
	if err != nil {
		return err
	}
	defer l.exit()
	if start != nil && end != nil && bytes.Compare(start, end) >= 0 {
		return nil
	}
	it := db.NewIterator(&util.Range{Start: start, Limit: end}, scanRead)
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

// Close implements [Engine.Close]: it ends the reopen loop, refuses new
// calls, waits for calls in progress (so it must not be called from a Scan
// callback), then closes the database and its storage.
func (l *LevelDB) Close() error {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		<-l.done
		return nil
	}
	l.closing = true
	close(l.stop)
	l.mu.Unlock()
	l.loops.Wait()
	if l.state.Add(closedBit) != closedBit {
		<-l.drained
	}
	var err error
	if db := l.db.Swap(nil); db != nil {
		err = db.Close()
	}
	if serr := l.stor.Close(); err == nil {
		err = serr
	}
	if err != nil {
		l.closeErr = fmt.Errorf("storage: close leveldb %s: %w", l.name, err)
	}
	close(l.done)
	return l.closeErr
}

// groupCommit writes concurrent unsynced Puts as one goleveldb batch: one
// journal write system call and one pass through goleveldb's write lock for
// all of them. The first Put of a group leads: it yields the processor once
// (as the transport's frame writer does), so the goroutines that are ready
// to write (replica writes of one burst of frames, handed to their workers
// together) join its batch, then it writes the batch and wakes them. A
// lone Put pays one Gosched. goleveldb merges writers that queue on its
// write lock too, but only those running on another processor while the
// journal write is in progress; on two cores a burst runs on one processor,
// one write after another, and each paid its own system call.
//
// A batch is atomic: every Put of a group succeeds or fails together, and
// each returns the batch's error. Two Puts of one key in a group keep
// their order (the store's key lock makes that case rare: the second
// waits for the first to return). Synced Puts do not group.
type groupCommit struct {
	mu  sync.Mutex
	cur *commitGroup // the group taking Puts; nil while none is

	groups, puts atomic.Int64 // batches written and the Puts in them
}

// groupBytesMax is the batch size past which a Put starts a new group
// instead of joining: a leader holds its followers for as long as the
// write of the whole batch takes.
const groupBytesMax = 4 << 20

type commitGroup struct {
	b    *leveldb.Batch // from the engine's pool; back there once written
	done chan struct{}  // closed once b is written; err is set then
	err  error
}

// put writes key and value in the current group, or leads a new one and
// times its write in ws. A group's batch comes from pool (the engine's
// batches) and goes back once written: a new batch per group grew its
// buffer from nothing, which was a fifth of a node's allocated bytes under
// load. Followers never touch a group's batch after joining, so the leader
// may recycle it at once.
func (g *groupCommit) put(db *leveldb.DB, pool *sync.Pool, ws *writeStats, key, value []byte) error {
	g.mu.Lock()
	cur := g.cur
	if cur != nil && len(cur.b.Dump())+len(key)+len(value) <= groupBytesMax {
		cur.b.Put(key, value) // copies both
		g.mu.Unlock()
		<-cur.done
		return cur.err
	}
	cur = &commitGroup{b: pool.Get().(*leveldb.Batch), done: make(chan struct{})}
	cur.b.Put(key, value)
	g.cur = cur
	g.mu.Unlock()

	runtime.Gosched() // let the Puts that are ready join
	g.mu.Lock()
	if g.cur == cur {
		g.cur = nil // closed: later Puts form the next group
	}
	g.mu.Unlock()
	g.groups.Add(1)
	g.puts.Add(int64(cur.b.Len()))
	start := time.Now()
	err := db.Write(cur.b, asyncWrite)
	ws.observe(start)
	if cap(cur.b.Dump()) <= groupBytesMax {
		cur.b.Reset()
		pool.Put(cur.b)
	}
	cur.b = nil
	cur.err = err
	close(cur.done)
	return err
}
