package http

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// A request's work is bounded by its timeout (the timeout parameter, or
// the route's default). It is not cancelled when its client goes away:
// as in Riak, a write that began completes, and a read ends at the
// latest at its deadline. This lets requests share their deadline
// contexts: every request that starts within shareWindow of another,
// with the same timeout, gets the same context, ending at most
// shareWindow after its own deadline. A context with a timer of its own
// per request (context.WithTimeout on the request's context) was 12 % of
// the objects a node allocated under load, with its timer's insertion
// into and removal from the runtime's heap on every request.
const (
	// shareWindow is how long requests keep sharing a deadline context:
	// the most a shared deadline can lie past a request's own.
	shareWindow = 5 * time.Millisecond
	// minShared is the shortest timeout whose requests share: below it,
	// shareWindow would be a noticeable part of the timeout.
	minShared = time.Second
)

// deadlines hands out shared deadline contexts, one per timeout in use
// (a few: the defaults of the routes, and those clients ask for).
type deadlines struct {
	mu  sync.Mutex
	cur sync.Map // time.Duration -> *atomic.Pointer[sharedDeadline]
}

// sharedDeadline is the context of the requests with one timeout that
// started within shareWindow of from. Its timer cancels it at its
// deadline; nothing else does (cancel is kept so that nothing leaks it).
type sharedDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc
	from   time.Time
}

// shares reports whether a request that started at start may take sd:
// sd then ends no earlier than start+d and at most 2*shareWindow later.
func (sd *sharedDeadline) shares(start time.Time) bool {
	gap := start.Sub(sd.from)
	return gap > -shareWindow && gap < shareWindow
}

// get returns a context that ends no earlier than start+d and at most
// 2*shareWindow later, without values, and its cancel: a no-op for a
// shared one, whose timer ends it.
func (s *deadlines) get(start time.Time, d time.Duration) (context.Context, context.CancelFunc) {
	p, ok := s.cur.Load(d)
	if !ok {
		p, _ = s.cur.LoadOrStore(d, new(atomic.Pointer[sharedDeadline]))
	}
	cur := p.(*atomic.Pointer[sharedDeadline])
	if sd := cur.Load(); sd != nil && sd.shares(start) {
		return sd.ctx, noCancel
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sd := cur.Load()
	switch {
	case sd != nil && sd.shares(start):
		return sd.ctx, noCancel
	case sd != nil && start.Before(sd.from):
		// It started a window before the current one (its handler ran
		// late): a context of its own.
		return context.WithDeadline(context.Background(), start.Add(d))
	}
	sd = &sharedDeadline{from: start}
	sd.ctx, sd.cancel = context.WithDeadline(context.Background(), start.Add(d+shareWindow))
	cur.Store(sd)
	return sd.ctx, noCancel
}

func noCancel() {}

// reqContext is a request's context under a shared deadline: Deadline,
// Done and Err are the shared context's, values are the request's own.
// It lives in the request's statusWriter, so it costs no allocation.
type reqContext struct {
	context.Context                 // the shared deadline context
	vals            context.Context // the request's context, for values
}

// Value answers from the shared context first, which has no values of
// its own but lets the context package find its cancellation (a context
// derived from this one then costs no goroutine), then from the request's.
func (c *reqContext) Value(key any) any {
	if v := c.Context.Value(key); v != nil {
		return v
	}
	return c.vals.Value(key)
}
