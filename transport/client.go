package transport

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

var errSendQueueFull = errors.New("send queue full: the peer is not reading")

// call is one call waiting for its response. Calls are pooled: a call may
// be reused only once its result has been received, because whoever takes
// it out of pending sends exactly one result.
type call struct {
	ch chan callResult // capacity 1
	// async is set for a call of [TCP.Go]: its result goes to async.done
	// instead of ch.
	async asyncCall
	// expireFn is expireCall bound once, at the call's first use with a
	// context of its own watch (see goCall), for context.AfterFunc.
	expireFn func()
}

// asyncCall is what a call of [TCP.Go] needs once its result is in.
type asyncCall struct {
	done  func([]byte, error)
	stop  func() bool // ends the call's own watch on ctx; nil when its connection watches ctx
	c     *clientConn
	id    uint64
	ctx   context.Context
	kind  uint8
	body  []byte // kept for a goaway's retry
	start time.Time
}

var callPool = sync.Pool{New: func() any { return &call{ch: make(chan callResult, 1)} }}

// expireCall ends an asynchronous call with a watch of its own whose
// context ended first. It runs on a goroutine of its own
// (context.AfterFunc), reading async while the call's result may be
// delivered: deliver reuses a call only when stop reports that
// expireCall never runs, so async does not change under it.
func (cl *call) expireCall() {
	a := &cl.async
	a.c.expire(a.id, ctxError(a.c.peer, a.ctx.Err()))
}

// deliver hands the call its result. Only whoever took the call out of
// pending may deliver, exactly once. An asynchronous call goes back to
// the pool here (unless its expireCall runs); one with a waiter goes back
// when the waiter received.
func (cl *call) deliver(r callResult) {
	if cl.async.done == nil {
		cl.ch <- r
		return
	}
	a := cl.async
	if a.stop == nil || a.stop() {
		cl.async = asyncCall{}
		callPool.Put(cl)
	}
	a.c.t.finishAsync(&a, r)
}

type callResult struct {
	body []byte
	err  error
}

// clientConn is a dialed connection: it sends requests and routes responses
// to their calls by id.
type clientConn struct {
	t       *TCP
	peer    string
	nc      net.Conn
	fr      frameReader // used by the read loop only (and the handshake before it)
	w       *frameWriter
	maxSend int           // the smaller of the two ends' frame limits
	dead    atomic.Bool   // set when the connection fails; the slot dials anew
	done    chan struct{} // closed when the read loop ends

	mu sync.Mutex
	// guarded by mu
	nextID  uint64
	pending map[uint64]*call // calls in flight by request id; nil once failed
	err     error            // why the connection failed
	// watched holds, for each context of asynchronous calls that may
	// still be pending, the stop of its watch (expireCtx): one
	// context.AfterFunc per context and connection, not per call (the
	// coordinator's calls share a context per 100 ms).
	watched map[context.Context]func() bool
}

// admit checks a request before it is sent: its size against the frame
// limit, and ctx's deadline, which must exist. It returns the time left,
// in milliseconds rounded up, for the request's header.
func (c *clientConn) admit(ctx context.Context, body []byte) (uint32, error) {
	if requestHeaderLen-lenSize+len(body) > c.maxSend {
		return 0, tooLarge("request", len(body), c.maxSend)
	}
	deadline, _ := ctx.Deadline()
	left := time.Until(deadline)
	if left <= 0 {
		return 0, ctxError(c.peer, context.DeadlineExceeded)
	}
	return uint32(min((left+time.Millisecond-1)/time.Millisecond, math.MaxUint32)), nil
}

// lockLive locks c.mu and returns nil, or returns why the connection
// failed, with c.mu unlocked.
func (c *clientConn) lockLive() error {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	return nil
}

// call sends one request and waits for its response or the end of ctx,
// which must have a deadline.
func (c *clientConn) call(ctx context.Context, kind uint8, body []byte) ([]byte, error) {
	ms, err := c.admit(ctx, body)
	if err != nil {
		return nil, err
	}
	if err := c.lockLive(); err != nil {
		return nil, err
	}
	cl := callPool.Get().(*call)
	c.nextID++
	id := c.nextID
	c.pending[id] = cl
	c.mu.Unlock()

	hdr := requestHeader(id, kind, ms, len(body))
	if err := c.w.send(hdr[:], body); err != nil {
		return c.abandon(id, cl, c.t.connErr(c.peer, err))
	}
	select {
	case r := <-cl.ch:
		callPool.Put(cl)
		return r.body, r.err
	case <-ctx.Done():
		return c.abandon(id, cl, ctxError(c.peer, ctx.Err()))
	}
}

// goCall is call without the wait: done receives the result, exactly
// once, on this goroutine if the call fails before it is sent, else on
// the connection's read loop, or on a goroutine of its own when ctx
// (which must have a deadline) ends first. done must not block: the read
// loop serves every call of the connection. start is when [TCP.Go] was
// called, for the call's metrics.
func (c *clientConn) goCall(ctx context.Context, kind uint8, body []byte, start time.Time, done func([]byte, error)) {
	fail := func(err error) {
		c.t.m.observeCall(kind, start, err)
		done(nil, err)
	}
	ms, err := c.admit(ctx, body)
	if err != nil {
		fail(err)
		return
	}
	if err := c.lockLive(); err != nil {
		fail(err)
		return
	}
	cl := callPool.Get().(*call)
	c.nextID++
	id := c.nextID
	cl.async = asyncCall{done: done, c: c, id: id, ctx: ctx, kind: kind, body: body, start: start}
	if reflect.TypeOf(ctx).Comparable() {
		if _, ok := c.watched[ctx]; !ok {
			if c.watched == nil {
				c.watched = make(map[context.Context]func() bool)
			}
			c.watched[ctx] = context.AfterFunc(ctx, func() { c.expireCtx(ctx) })
		}
	} else {
		// A context that cannot be a map key: a watch of its own. Set
		// before the call is pending, so that whoever takes it finds
		// stop.
		if cl.expireFn == nil {
			cl.expireFn = cl.expireCall
		}
		cl.async.stop = context.AfterFunc(ctx, cl.expireFn)
	}
	c.pending[id] = cl
	c.mu.Unlock()
	if ctx.Err() != nil {
		c.expire(id, ctxError(c.peer, ctx.Err()))
		return
	}
	hdr := requestHeader(id, kind, ms, len(body))
	if err := c.w.send(hdr[:], body); err != nil {
		c.expire(id, c.t.connErr(c.peer, err))
	}
}

// expireCtx ends the asynchronous calls of ctx still pending, now that
// ctx has ended.
func (c *clientConn) expireCtx(ctx context.Context) {
	err := ctxError(c.peer, ctx.Err())
	var ended []*call
	c.mu.Lock()
	delete(c.watched, ctx)
	for id, cl := range c.pending {
		// Different dynamic types compare unequal without panicking,
		// and ctx's type is comparable.
		if cl.async.done != nil && cl.async.ctx == ctx {
			delete(c.pending, id)
			ended = append(ended, cl)
		}
	}
	c.mu.Unlock()
	for _, cl := range ended {
		cl.deliver(callResult{err: err})
	}
}

// expire ends an asynchronous call early with err, if it is still
// pending (ids are never reused, so a late expire of a finished call
// finds nothing).
func (c *clientConn) expire(id uint64, err error) {
	c.mu.Lock()
	cl, mine := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if mine {
		cl.deliver(callResult{err: err})
	}
}

// abandon ends a call early with err. If the call is no longer pending, its
// result is on its way (from the read loop or fail) and is returned instead.
func (c *clientConn) abandon(id uint64, cl *call, err error) ([]byte, error) {
	c.mu.Lock()
	_, mine := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if !mine {
		r := <-cl.ch
		callPool.Put(cl)
		return r.body, r.err
	}
	callPool.Put(cl)
	return nil, err
}

// readLoop routes responses to their calls until the connection fails, then
// fails the calls still in flight.
func (c *clientConn) readLoop() {
	err := c.readResponses()
	// Count and log before the calls fail, so that whoever sees a call
	// fail also sees why in the metrics.
	c.t.logConnEnd("peer connection closed", c.peer, c.nc, err, true)
	c.fail(err)
}

// readResponses reads each response's body before it takes the call out of
// pending, so a caller whose ctx ends while the body is arriving gives up
// at once (abandon finds its call still pending). A response for no pending
// call is skipped without keeping its body.
func (c *clientConn) readResponses() error {
	for {
		h, err := c.fr.readHeader()
		if err != nil {
			return err
		}
		if h.typ != frameResponse {
			return badFrame("frame type %d from the serving side", h.typ)
		}
		if h.id == 0 { // goaway: the peer closed this idle connection
			return errGoAway
		}
		c.mu.Lock()
		_, waiting := c.pending[h.id]
		c.mu.Unlock()
		if !waiting { // the caller gave up
			if err := c.fr.discard(h.bodyLen); err != nil {
				return err
			}
			continue
		}
		var body []byte
		switch {
		case h.bodyLen == 0:
		case h.bodyLen <= growChunk: // small enough to allocate up front
			body = make([]byte, h.bodyLen)
			if err := c.fr.readBody(body); err != nil {
				return err
			}
		default:
			b, err := c.fr.readBodyGrowing(h.bodyLen, newBuf, nil)
			if err != nil {
				return err
			}
			body = *b
		}
		c.mu.Lock()
		cl := c.pending[h.id]
		delete(c.pending, h.id)
		c.mu.Unlock()
		if cl == nil { // the caller gave up while the body arrived
			continue
		}
		switch h.status {
		case statusOK:
			cl.deliver(callResult{body: body})
		case statusError:
			cl.deliver(callResult{err: &RemoteError{Msg: string(body)}})
		default: // statusTooLarge; readHeader admits no other
			cl.deliver(callResult{err: fmt.Errorf("%w: %s: %s", ErrTooLarge, c.peer, body)})
		}
	}
}

// newBuf allocates a response body, which the caller keeps.
func newBuf(n int) *[]byte {
	b := make([]byte, n)
	return &b
}

// fail closes the connection and fails every call in flight.
func (c *clientConn) fail(cause error) {
	err := c.t.connErr(c.peer, cause)
	c.dead.Store(true)
	c.nc.Close()
	c.w.close(err)
	close(c.done)
	c.mu.Lock()
	c.err = err
	pending := c.pending
	c.pending = nil
	for _, stop := range c.watched {
		stop()
	}
	c.watched = nil
	c.mu.Unlock()
	for _, cl := range pending {
		cl.deliver(callResult{err: err})
	}
	c.t.untrack(c.nc)
	c.t.m.connsOut.Dec()
}
