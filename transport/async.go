package transport

import (
	"context"
	"errors"
	"time"
)

// Go sends a request to the node named to, as [TCP.Call] does, without
// waiting for the response: done receives the response or the error,
// exactly once. body must not change until done runs.
//
// Over an established connection, and with a deadline on ctx, done runs
// on the connection's read loop, which serves every call of the
// connection: done must not block (hand anything that may, such as I/O
// or another call, to a goroutine). A caller that fans a request out
// then needs no goroutine per call to wait for its reply, nor the two
// goroutine hand-offs that cost (the call's start and its wake-up).
// Otherwise (a connection still to dial, a call to this node itself, no
// deadline, a goaway to retry) a pooled goroutine makes the call with
// Call and gives done its result.
func (t *TCP) Go(ctx context.Context, to string, kind uint8, body []byte, done func([]byte, error)) {
	start := time.Now()
	if _, bounded := ctx.Deadline(); bounded {
		if c := t.readyConn(to); c != nil {
			c.goCall(ctx, kind, body, start, done)
			return
		}
	}
	t.goCall(ctx, to, kind, body, func(b []byte, err error) {
		t.m.observeCall(kind, start, err)
		done(b, err)
	})
}

// finishAsync gives an asynchronous call's result to its done, after a
// retry when the result is a goaway: the peer closed the connection for
// idleness without reading the request, so Call sends it again, on a new
// connection.
func (t *TCP) finishAsync(a *asyncCall, r callResult) {
	if errors.Is(r.err, errGoAway) && a.ctx.Err() == nil {
		done, kind, start := a.done, a.kind, a.start
		t.goCall(a.ctx, a.c.peer, a.kind, a.body, func(b []byte, err error) {
			t.m.observeCall(kind, start, err)
			done(b, err)
		})
		return
	}
	t.m.observeCall(a.kind, a.start, r.err)
	a.done(r.body, r.err)
}

// goCall makes a call on a pooled goroutine and gives its result to done.
func (t *TCP) goCall(ctx context.Context, to string, kind uint8, body []byte, done func([]byte, error)) {
	if !t.bg.GoPooled(func() { done(t.call(ctx, to, kind, body)) }) {
		done(nil, ErrClosed)
	}
}

// readyConn returns a live connection to the peer named to, nil if it
// has none yet (or to is this node, or the transport is closed).
func (t *TCP) readyConn(to string) *clientConn {
	if to == t.cfg.Name || t.bg.Stopped() {
		return nil
	}
	return t.peer(to).nextSlot().live()
}
