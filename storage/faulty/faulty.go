// Package faulty injects errors into storage, to prove that callers report
// every failure and lose no acknowledged write (pebble's error_test.go
// does the same for its file system).
//
// [Engine] wraps a storage.Engine and fails its i-th operation, or every
// operation from the i-th on. [Storage] does the same one level lower, for
// goleveldb's file-system seam (its storage.Storage), failing file writes,
// syncs, renames and removals.
//
// A test sweeps i = 0, 1, 2, … over a workload until a run injects nothing,
// checking at every step that each error returned is the injected one and
// that what was acknowledged is still there.
package faulty

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/dynamod/dynamod/storage"
)

// ErrInjected is the error a fault returns unless Config.Err says otherwise.
var ErrInjected = errors.New("faulty: injected error")

// Config says which operations fail.
type Config struct {
	// FailAt is the 0-based index of the first operation to fail; negative
	// means none does.
	FailAt int
	// Sticky fails every operation from FailAt on, as a dead disk would;
	// otherwise only that one fails.
	Sticky bool
	// Apply lets a failing write reach the wrapped engine before the error
	// is returned, as when data is written but its fsync fails: the caller
	// cannot know whether it happened. Reads are unaffected. Engine only.
	Apply bool
	// Err is the injected error; nil means ErrInjected. Errors returned wrap
	// it.
	Err error
}

// counter counts operations and decides which fail. Safe for concurrent
// use: indices are handed out atomically.
type counter struct {
	cfg      Config
	ops      atomic.Int64
	injected atomic.Int64
	healed   atomic.Bool
}

// next counts one operation and returns the error to inject, or nil.
func (c *counter) next(op string) error {
	i := c.ops.Add(1) - 1
	at := int64(c.cfg.FailAt)
	if at < 0 || c.healed.Load() || i < at || (!c.cfg.Sticky && i != at) {
		return nil
	}
	c.injected.Add(1)
	err := c.cfg.Err
	if err == nil {
		err = ErrInjected
	}
	return fmt.Errorf("faulty: %s (operation %d): %w", op, i, err)
}

// Engine is a storage.Engine that fails chosen operations of the engine it
// wraps. Get, Put, Delete, Write and Scan each count as one operation, and
// so does each key a Scan visits (a failure there stops the scan with the
// injected error). Close is passed through uncounted, so tests can always
// clean up.
type Engine struct {
	inner storage.Engine
	c     counter
}

var _ storage.Engine = (*Engine)(nil)

// New wraps inner.
func New(inner storage.Engine, cfg Config) *Engine {
	return &Engine{inner: inner, c: counter{cfg: cfg}}
}

// Ops returns the number of operations counted so far.
func (e *Engine) Ops() int { return int(e.c.ops.Load()) }

// Injected returns the number of failures injected so far.
func (e *Engine) Injected() int { return int(e.c.injected.Load()) }

// Heal stops injecting: every operation from now on passes, as when a full
// disk gets space again. Operations are still counted.
func (e *Engine) Heal() { e.c.healed.Store(true) }

// Get implements storage.Engine.
func (e *Engine) Get(key []byte) ([]byte, error) {
	if err := e.c.next("get"); err != nil {
		return nil, err
	}
	return e.inner.Get(key)
}

// write runs a write under the fault rules: with Apply a failing write is
// applied first.
func (e *Engine) write(op string, f func() error) error {
	ferr := e.c.next(op)
	if ferr == nil {
		return f()
	}
	if e.c.cfg.Apply {
		if err := f(); err != nil {
			return err
		}
	}
	return ferr
}

// Put implements storage.Engine.
func (e *Engine) Put(key, value []byte, sync bool) error {
	return e.write("put", func() error { return e.inner.Put(key, value, sync) })
}

// Delete implements storage.Engine.
func (e *Engine) Delete(key []byte, sync bool) error {
	return e.write("delete", func() error { return e.inner.Delete(key, sync) })
}

// Write implements storage.Engine.
func (e *Engine) Write(b *storage.Batch, sync bool) error {
	return e.write("write", func() error { return e.inner.Write(b, sync) })
}

// scanFault carries an injected error out of the inner Scan, telling it
// apart from fn's own errors, which are returned unchanged.
type scanFault struct{ err error }

func (f *scanFault) Error() string { return f.err.Error() }

// Scan implements storage.Engine.
func (e *Engine) Scan(start, end []byte, fn func(key, value []byte) error) error {
	if err := e.c.next("scan"); err != nil {
		return err
	}
	err := e.inner.Scan(start, end, func(key, value []byte) error {
		if err := e.c.next("scan step"); err != nil {
			return &scanFault{err}
		}
		return fn(key, value)
	})
	var f *scanFault
	if errors.As(err, &f) {
		return f.err
	}
	return err
}

// Close closes the wrapped engine; it never fails by injection.
func (e *Engine) Close() error { return e.inner.Close() }
