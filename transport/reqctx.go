package transport

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// reqContext is the context a handler runs a request with: the
// connection's context (its values and its end) and the caller's
// deadline. The deadline is reported at once, but the timer that closes
// Done at it is made only when Done is first asked for: most requests (a
// replica's read or write) never wait on their context, and a timer per
// request (context.WithDeadline's) was a measurable share of serving one.
//
// It behaves as context.WithDeadline(parent, deadline) whose cancel runs
// when the request ends (release): Err agrees with Done at every moment,
// because before Done is made Err reads the same facts Done would (the
// parent, the clock, the end), and a Done made late is closed at once.
type reqContext struct {
	parent   context.Context
	deadline time.Time

	mu    sync.Mutex                   // serializes making timed and release
	timed atomic.Pointer[timedContext] // made by Done, at most once
	ended atomic.Bool                  // release was called
}

type timedContext struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func newReqContext(parent context.Context, deadline time.Time) *reqContext {
	return &reqContext{parent: parent, deadline: deadline}
}

func (c *reqContext) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *reqContext) Value(key any) any { return c.parent.Value(key) }

func (c *reqContext) Done() <-chan struct{} {
	if t := c.timed.Load(); t != nil {
		return t.ctx.Done()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.timed.Load()
	if t == nil {
		t = new(timedContext)
		t.ctx, t.cancel = context.WithDeadline(c.parent, c.deadline)
		if c.ended.Load() {
			t.cancel()
		}
		c.timed.Store(t)
	}
	return t.ctx.Done()
}

func (c *reqContext) Err() error {
	if t := c.timed.Load(); t != nil {
		return t.ctx.Err()
	}
	if !c.ended.Load() {
		if err := c.parent.Err(); err != nil {
			return err
		}
		if time.Now().Before(c.deadline) {
			return nil
		}
	}
	// Ended or past the deadline: the real context, made now, is closed
	// at once and says which.
	c.Done()
	return c.timed.Load().ctx.Err()
}

// release ends the context (Canceled, unless it ended before) and stops
// the timer, if Done made one. The request has ended.
func (c *reqContext) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended.Store(true)
	if t := c.timed.Load(); t != nil {
		t.cancel()
	}
}
