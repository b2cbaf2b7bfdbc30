// Package lifetime holds [Group], the one way dynamod starts a goroutine
// that its owner's Close waits for.
//
// The trap it closes: sync.WaitGroup forbids an Add at a zero count that
// runs concurrently with Wait. An owner that starts goroutines on behalf of
// callers (a request's fan-out, a dial, a delivery) while another goroutine
// closes it must therefore make "start one more" and "start no more"
// exclusive, and refuse to start once closing has begun. Group does that
// once, so the owners need not each argue it again.
//
// It imports no other dynamod package.
package lifetime

import (
	"sync"
	"sync/atomic"
)

// Group runs goroutines until it is stopped, and waits for them. The zero
// value is ready to use; a Group must not be copied after first use. All
// methods are safe for concurrent use.
//
// Once [Group.Stop] (or [Group.Close]) has returned, [Group.Go] refuses
// every f, so every goroutine [Group.Close] waits for was started before
// it began to wait.
type Group struct {
	// mu makes starting and stopping exclusive: Go holds it shared while
	// it checks stopped and adds to wg, Stop exclusively while it sets
	// stopped. Many Go calls run at once; none overlaps a Stop.
	mu      sync.RWMutex
	stopped atomic.Bool // set under mu held exclusively; read freely
	wg      sync.WaitGroup
}

// Go runs f in a new goroutine that [Group.Close] waits for, and reports
// true, unless the group is stopped: then f is not run and Go reports
// false. The caller decides what refusal means (typically its ErrClosed).
// Go does not block on f.
func (g *Group) Go(f func()) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.stopped.Load() {
		return false
	}
	g.wg.Go(f)
	return true
}

// Stop refuses every later [Group.Go] without waiting for the goroutines
// running. It reports whether this call stopped the group (false when it
// was stopped already), so an owner can do its one-time teardown between
// Stop and [Group.Close], under its own lock if it likes.
func (g *Group) Stop() (first bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.stopped.Swap(true)
}

// Stopped reports whether [Group.Stop] or [Group.Close] has been called.
// It takes no lock, so it suits fast paths that fail early once closing
// has begun; the authoritative check is Go's result.
func (g *Group) Stopped() bool { return g.stopped.Load() }

// Close stops the group (see [Group.Stop]) and waits for every goroutine
// it started. It is idempotent, and may be called concurrently; each call
// returns once all of them have ended. It must not be called from one of
// the group's own goroutines, which would wait for itself.
func (g *Group) Close() {
	g.Stop()
	g.wg.Wait()
}
