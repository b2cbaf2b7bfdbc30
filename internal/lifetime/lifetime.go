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

	// The idle workers of GoPooled: handoff is unbuffered, so a send
	// succeeds only when a worker is waiting for it; done closes at Stop
	// and ends every waiting worker. Both are made on first use.
	once    sync.Once
	handoff chan func()
	done    chan struct{}
	idle    atomic.Int32 // workers waiting on handoff, or about to
	workers atomic.Int64 // workers started, ever (for tests)
}

// MaxIdle bounds the workers [Group.GoPooled] keeps waiting for work; one
// that finds this many waiting already ends instead.
const MaxIdle = 128

func (g *Group) init() {
	g.once.Do(func() {
		g.handoff = make(chan func())
		g.done = make(chan struct{})
	})
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

// GoPooled is [Group.Go] for short tasks started at a high rate (a
// request's handler, a replica call): f runs on a goroutine of an earlier
// GoPooled that has finished its task and waits for another, or on a new
// one. A reused goroutine has its stack grown already and costs no
// creation, which a new goroutine per request pays every time. Up to
// [MaxIdle] finished goroutines wait, until the group stops.
func (g *Group) GoPooled(f func()) bool {
	g.init()
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.stopped.Load() {
		return false
	}
	select {
	case g.handoff <- f:
		// A waiting worker took it. It counts in wg already, and Stop
		// cannot have begun: it needs mu exclusively.
	default:
		g.workers.Add(1)
		g.wg.Go(func() { g.work(f) })
	}
	return true
}

// work runs f, then the tasks handed to it while it waits, until the group
// stops or MaxIdle others are waiting already.
func (g *Group) work(f func()) {
	for {
		f()
		if g.idle.Add(1) > MaxIdle {
			g.idle.Add(-1)
			return
		}
		select {
		case f = <-g.handoff:
			g.idle.Add(-1)
		case <-g.done:
			g.idle.Add(-1)
			return
		}
	}
}

// Stop refuses every later [Group.Go] without waiting for the goroutines
// running. It reports whether this call stopped the group (false when it
// was stopped already), so an owner can do its one-time teardown between
// Stop and [Group.Close], under its own lock if it likes.
func (g *Group) Stop() (first bool) {
	g.init()
	g.mu.Lock()
	defer g.mu.Unlock()
	first = !g.stopped.Swap(true)
	if first {
		close(g.done)
	}
	return first
}

// Hold counts one piece of work that runs on no goroutine of the group
// (a callback that another component calls later) so that [Group.Close]
// waits for it too, and reports true; once the group is stopped it holds
// nothing and reports false. Each Hold that reported true needs exactly
// one [Group.Release].
func (g *Group) Hold() bool {
	g.init()
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.stopped.Load() {
		return false
	}
	g.wg.Add(1)
	return true
}

// Release ends the work of one [Group.Hold] that reported true.
func (g *Group) Release() { g.wg.Done() }

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
