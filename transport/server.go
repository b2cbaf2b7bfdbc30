package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// maxErrorText bounds the error text a response carries.
const maxErrorText = 4 << 10

// requestCost is what a request is charged in the in-flight budgets besides
// its body: about the memory of its goroutine and bookkeeping, so that
// requests with small bodies are bounded in number too.
const requestCost = 8 << 10

// serverConn is an accepted connection: it runs requests and sends their
// responses.
type serverConn struct {
	t       *TCP
	peer    string // the calling node: from its certificate with TLS, else from its hello
	nc      net.Conn
	fr      frameReader
	w       *frameWriter
	maxSend int
	ctx     context.Context // ends when the connection or the transport closes
	sem     chan struct{}   // one token per running request
	bytes   *budget         // request bytes of this connection (MaxConnInflight)
	// lastDone is when a request last ended (Unix ns; the handshake's end
	// at first): the connection is idle once IdleTimeout has passed since
	// and no request is in flight.
	lastDone atomic.Int64
}

// serveConn runs the handshake and then the request loop of an accepted
// connection. It owns nc and tears it down.
func (t *TCP) serveConn(nc net.Conn) {
	defer t.untrack(nc)
	fr := t.newFrameReader(nc)
	peer, peerMax, err := t.accept(nc, &fr)
	if err != nil {
		t.logConnEnd("handshake failed", peer, nc, err, false)
		return
	}
	fr.cr.timeout = t.cfg.ReadTimeout
	ctx, cancel := context.WithCancel(t.ctx)
	s := &serverConn{
		t:       t,
		peer:    peer,
		nc:      nc,
		fr:      fr,
		w:       newFrameWriter(nc, t.cfg.WriteTimeout, t.countSent),
		maxSend: min(t.cfg.MaxFrame, peerMax),
		ctx:     ctx,
		sem:     make(chan struct{}, t.cfg.MaxConcurrent),
		bytes:   newBudget(t.cfg.MaxConnInflight, nil),
	}
	s.lastDone.Store(time.Now().UnixNano())
	done, ran := make(chan struct{}), make(chan struct{})
	if !t.bg.Go(func() { defer close(ran); s.w.run(done) }) {
		cancel() // closing: Close closes nc, tracked before
		return
	}
	t.m.connsIn.Inc()
	err = s.readRequests()
	if errors.Is(err, errIdle) {
		// Nothing in flight, so no handler is left to answer.
		close(done)
		<-ran
		s.goAway()
	} else {
		close(done)
	}
	// Stop the handlers of this connection: nobody will read their answers.
	cancel()
	// Counted before the close, so whoever sees it closed sees it counted.
	t.logConnEnd("peer connection closed", peer, nc, err, true)
	nc.Close()
	s.w.close(net.ErrClosed)
	t.m.connsIn.Dec()
}

// goAway ends a connection that has been idle for IdleTimeout without
// losing a request the peer sends meanwhile. It tells the peer that every
// request read was answered and nothing more will be (a response with id
// 0, see frame.go), so the peer sends again what it has in flight, on a
// new connection. Then it shuts its sending side and reads and drops what
// still comes, until the peer closes or DialTimeout passes: a request that
// crossed the goaway is dropped here unread, and the goaway is not lost to
// the reset that closing with unread bytes would send. The writer's
// goroutine must have ended.
func (s *serverConn) goAway() {
	s.t.m.idleClosed.Inc()
	hdr := responseHeader(0, statusOK, 0)
	if s.w.send(hdr[:], nil) != nil {
		return
	}
	s.w.flush()
	if cw, ok := s.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	if s.nc.SetReadDeadline(time.Now().Add(s.t.cfg.DialTimeout)) == nil {
		_, _ = io.Copy(io.Discard, s.nc)
	}
}

// accept reads the caller's hello and answers with this node's, within
// DialTimeout. The answer goes out even when the caller's version is not
// supported, so the caller can report why it was refused.
func (t *TCP) accept(nc net.Conn, fr *frameReader) (peer string, peerMax int, err error) {
	if err := nc.SetDeadline(time.Now().Add(t.cfg.DialTimeout)); err != nil {
		return "", 0, err
	}
	var certName string
	if tc, ok := nc.(*tls.Conn); ok {
		if certName, err = t.acceptTLS(tc); err != nil {
			return "", 0, err
		}
	}
	peer, peerMax, herr := fr.readHello()
	if peer == "" && herr != nil {
		return "", 0, herr
	}
	if certName != "" && peer != certName {
		// Counted before the connection closes, so whoever sees it closed
		// sees it counted.
		t.m.tlsFailed("in", tlsIdentity)
		return certName, 0, fmt.Errorf("%w: its hello names node %q, its certificate %q", errRefused, peer, certName)
	}
	if _, err := nc.Write(appendHello(nil, t.cfg.Name, t.cfg.MaxFrame)); err != nil {
		return peer, 0, err
	}
	if herr != nil {
		return peer, 0, herr
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return peer, 0, err
	}
	return peer, peerMax, nil
}

// acceptTLS runs the TLS handshake of an accepted connection (the config
// verifies the client's certificate) and returns the node name the
// certificate stands for. Failures are counted and wrap errRefused.
func (t *TCP) acceptTLS(tc *tls.Conn) (string, error) {
	if err := tc.HandshakeContext(t.ctx); err != nil {
		t.m.tlsFailed("in", tlsHandshake)
		return "", fmt.Errorf("%w: tls handshake: %w", errRefused, err)
	}
	name, err := t.peerName(tc.ConnectionState())
	if err != nil {
		t.m.tlsFailed("in", tlsIdentity)
		return "", fmt.Errorf("%w: %w", errRefused, err)
	}
	return name, nil
}

// readRequests starts a goroutine per request until the connection fails.
// When MaxConcurrent requests are running, or the next request does not fit
// in the connection's or the transport's in-flight byte budget
// (MaxConnInflight, MaxInflight), it stops reading until requests end: the
// peer's further frames wait in TCP buffers and then in the peer. The
// connection's own budget is charged the announced body length plus
// requestCost before the body is read (it only holds back this
// connection's next frames); the shared one is charged as the body's
// buffer grows (readBody), so what a frame holds of it is what it sent.
//
// It returns errIdle when no request has been in flight for IdleTimeout.
func (s *serverConn) readRequests() error {
	for {
		s.fr.cr.idleUntil = s.idleDeadline()
		h, err := s.fr.readHeader()
		if errors.Is(err, errIdle) {
			if len(s.sem) == 0 && !time.Now().Before(s.idleDeadline()) {
				return err
			}
			continue // busy since: wait on
		}
		if err != nil {
			return err
		}
		if h.typ != frameRequest {
			return badFrame("frame type %d from the calling side", h.typ)
		}
		var deadline time.Time
		if h.timeout > 0 {
			deadline = time.Now().Add(time.Duration(h.timeout) * time.Millisecond)
		}
		select {
		case s.sem <- struct{}{}:
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
		connBytes, err := s.bytes.acquire(s.ctx, requestCost+h.bodyLen)
		if err != nil {
			<-s.sem
			return err
		}
		c := s.t.inflight.newCharge(h.bodyLen)
		body, err := s.readBody(h.bodyLen, c, deadline)
		if err != nil {
			s.release(connBytes, c)
			if errors.Is(err, errExpired) {
				s.t.m.observeServed(h.kind, servedExpired)
				s.t.log.Debug("request expired waiting for in-flight room", "peer", s.peer, "kind", h.kind, "request_id", h.id, "body_bytes", h.bodyLen)
				continue
			}
			return err
		}
		c.complete()
		if !s.t.bg.GoPooled(func() {
			s.serve(h.id, h.kind, deadline, body)
			s.release(connBytes, c)
		}) {
			putBuf(body)
			s.release(connBytes, c)
			return ErrClosed
		}
	}
}

// readBody reads a request body of n bytes into a buffer that starts at
// growChunk and doubles as it fills, charging c for each buffer before it
// is allocated and only once a byte for it has arrived: a frame holds
// nothing before its first body byte, and then at most twice what it sent
// (its first buffer and requestCost aside). A request whose deadline passes
// while it waits for room is skipped as its bytes arrive (errExpired); a
// wait longer than ReadTimeout fails with errNoRoom, and so does a leader
// not granted its bytes within ReadTimeout of its promotion, which must also
// have arrived in full by then (see shared).
func (s *serverConn) readBody(n int, c *charge, deadline time.Time) (*[]byte, error) {
	defer s.fr.cr.setUntil(time.Time{})
	if n == 0 {
		if err := s.take(c, requestCost, deadline); err != nil {
			return nil, err
		}
		return getBuf(0), nil
	}
	var b *[]byte
	got, size := 0, min(n, growChunk)
	for {
		if _, err := s.fr.r.Peek(1); err != nil {
			putBuf(b)
			return nil, unexpectedEOF(err)
		}
		grant := size
		if b == nil {
			grant += requestCost
		} else {
			grant -= len(*b)
		}
		if err := s.take(c, grant, deadline); err != nil {
			putBuf(b)
			if errors.Is(err, errExpired) {
				if derr := s.fr.discard(n - got); derr != nil {
					return nil, derr
				}
			}
			return nil, err
		}
		nb := getBuf(size)
		if b != nil {
			copy(*nb, (*b)[:got])
			putBuf(b)
		}
		b = nb
		m, err := io.ReadFull(s.fr.r, (*b)[got:])
		got += m
		if err != nil {
			putBuf(b)
			return nil, unexpectedEOF(err)
		}
		if got == n {
			return b, nil
		}
		size = min(2*size, n)
	}
}

// take grows c by n bytes, waiting at most ReadTimeout, until the
// request's deadline (errExpired) and, for the leader, until ReadTimeout
// after its promotion. Once c leads, the rest of its frame must arrive by
// that time too.
func (s *serverConn) take(c *charge, n int, deadline time.Time) error {
	timeout := s.t.cfg.ReadTimeout
	until := time.Now().Add(timeout)
	if l := c.leaderSince(); !l.IsZero() && l.Add(timeout).Before(until) {
		until = l.Add(timeout)
	}
	expires := !deadline.IsZero() && deadline.Before(until)
	if expires {
		until = deadline
	}
	err := c.grow(s.ctx, n, until)
	if errors.Is(err, errNoRoom) && expires {
		err = errExpired
	}
	if l := c.leaderSince(); !l.IsZero() {
		s.fr.cr.setUntil(l.Add(timeout))
	}
	return err
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// release gives back what a request took: its bytes of the two budgets and
// its MaxConcurrent token.
func (s *serverConn) release(connBytes int, c *charge) {
	c.release()
	s.bytes.release(connBytes)
	s.lastDone.Store(time.Now().UnixNano()) // before the token, which the idle check reads
	<-s.sem
}

// idleDeadline is when the connection becomes idle if no request begins:
// IdleTimeout after the last one ended, or from now while one is running.
func (s *serverConn) idleDeadline() time.Time {
	if len(s.sem) > 0 {
		return time.Now().Add(s.t.cfg.IdleTimeout)
	}
	return time.Unix(0, s.lastDone.Load()).Add(s.t.cfg.IdleTimeout)
}

// serve runs one request and sends its response. The response is queued
// (copied) before the request's buffer is recycled, since a handler may
// answer with a slice of its input.
func (s *serverConn) serve(id uint64, kind uint8, deadline time.Time, body *[]byte) {
	defer putBuf(body)
	ctx := s.ctx
	if !deadline.IsZero() {
		rc := newReqContext(ctx, deadline)
		defer rc.release()
		ctx = rc
	}
	resp, err := s.t.serve(ctx, s.peer, kind, id, *body)
	if ctx.Err() != nil {
		// The caller has given up (its deadline is never later than ours) or
		// the connection is closing: an answer would be thrown away.
		s.t.m.observeServed(kind, servedExpired)
		return
	}
	status, result := uint8(statusOK), servedOK
	switch {
	case err != nil:
		status, result = statusError, servedError
		msg := err.Error()
		if n := min(maxErrorText, s.maxSend-(responseHeaderLen-lenSize)); len(msg) > n {
			msg = msg[:n]
		}
		resp = []byte(msg)
	case responseHeaderLen-lenSize+len(resp) > s.maxSend:
		status, result = statusTooLarge, servedTooLarge
		resp = fmt.Appendf(nil, "response of %d bytes over the frame limit of %d", len(resp), s.maxSend)
	}
	s.t.m.observeServed(kind, result)
	hdr := responseHeader(id, status, len(resp))
	// An error means the connection is going down; its reader reports it.
	_ = s.w.send(hdr[:], resp)
}
