package transport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynamod/dynamod/internal/lifetime"
)

// TCP is the network transport: a listener serving a [Handler] and a pool of
// connections to peers for [TCP.Call]. All methods are safe for concurrent
// use.
//
// Connections are dialed lazily, Config.ConnsPerPeer per peer, used
// round-robin, and multiplexed: any number of calls share one connection and
// their responses come back in any order. A connection that fails fails its
// calls in flight with ErrUnreachable and is dialed again by the next call;
// one the peer closed for idleness (Config.IdleTimeout) sends its calls
// again on a new connection. Each inbound request runs in its own goroutine, at most
// Config.MaxConcurrent at a time per connection, within the in-flight byte
// bounds Config.MaxConnInflight and Config.MaxInflight.
type TCP struct {
	cfg    Config
	h      Handler
	log    *slog.Logger
	m      *metrics
	ln     net.Listener // nil when not listening
	ctx    context.Context
	cancel context.CancelFunc // ends ctx: the parent of every handler context and dial
	// bg runs every goroutine the transport starts. Close stops it under
	// mu, so a connection tracked under mu before that is closed by Close
	// and none is tracked after (see track).
	bg    lifetime.Group
	peers atomic.Pointer[map[string]*peer]

	inflight     *shared      // request bytes of all inbound connections (MaxInflight)
	inbound      atomic.Int64 // accepted connections open (MaxInbound)
	rejectLogged atomic.Int64 // Unix ns of the last warning about a rejected connection
	refuseLogged atomic.Int64 // Unix ns of the last warning about a refused peer (TLS, identity)

	mu sync.Mutex
	// guarded by mu
	open map[net.Conn]struct{} // every connection, in and out, until it is torn down
}

var _ Caller = (*TCP)(nil)

// Listen starts a transport that serves h on cfg.BindAddr (if set) and calls
// peers found by cfg.Resolve. h may be nil for a transport that only calls
// out: requests to it fail with a *RemoteError.
func Listen(cfg Config, h Handler) (*TCP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	t := &TCP{
		cfg:  cfg,
		h:    h,
		log:  cfg.Logger.With("component", "transport", "node", cfg.Name),
		m:    newMetrics(cfg.Registry),
		open: make(map[net.Conn]struct{}),
	}
	t.inflight = newShared(cfg.MaxInflight, cfg.MaxFrame-requestFixed, t.m.inflight)
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.peers.Store(&map[string]*peer{})
	if cfg.BindAddr != "" {
		ln, err := net.Listen("tcp", cfg.BindAddr)
		if err != nil {
			t.cancel()
			return nil, fmt.Errorf("transport: listen %s: %w", cfg.BindAddr, err)
		}
		if cfg.TLS != nil {
			ln = tls.NewListener(ln, cfg.TLS)
		}
		t.ln = ln
		t.log.Info("transport listening", "addr", ln.Addr().String(), "tls", cfg.TLS != nil)
		t.bg.Go(t.acceptLoop) // not yet returned, so not closed
	}
	return t, nil
}

// Addr returns the address the transport listens on ("" when not listening).
func (t *TCP) Addr() string {
	if t.ln == nil {
		return ""
	}
	return t.ln.Addr().String()
}

// Close stops the listener, closes every connection, fails calls in flight
// with ErrClosed, cancels the contexts of running handlers and waits for
// every goroutine the transport started (handlers included). It is
// idempotent; later calls fail with ErrClosed.
func (t *TCP) Close() error {
	t.mu.Lock()
	first := t.bg.Stop()
	conns := make([]net.Conn, 0, len(t.open))
	for nc := range t.open {
		conns = append(conns, nc)
	}
	t.mu.Unlock()
	if first {
		t.cancel()
		if t.ln != nil {
			t.ln.Close()
		}
	}
	for _, nc := range conns {
		nc.Close()
	}
	t.bg.Close()
	if first {
		t.log.Info("transport closed")
	}
	return nil
}

// Call sends a request to the node named to and waits for the response; see
// [Caller]. A call to this node's own name goes straight to its handler (in
// a goroutine, with copies of the bytes, as over the network).
func (t *TCP) Call(ctx context.Context, to string, kind uint8, body []byte) ([]byte, error) {
	start := time.Now()
	resp, err := t.call(ctx, to, kind, body)
	t.m.observeCall(kind, start, err)
	return resp, err
}

func (t *TCP) call(ctx context.Context, to string, kind uint8, body []byte) ([]byte, error) {
	if t.bg.Stopped() {
		return nil, ErrClosed
	}
	if requestHeaderLen-lenSize+len(body) > t.cfg.MaxFrame {
		return nil, tooLarge("request", len(body), t.cfg.MaxFrame)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.cfg.CallTimeout)
		defer cancel()
	}
	if to == t.cfg.Name {
		return t.callLocal(ctx, kind, body)
	}
	c, err := t.conn(ctx, t.peer(to))
	if err != nil {
		return nil, err
	}
	resp, err := c.call(ctx, kind, body)
	// The peer closed the connection for idleness without reading this
	// request (see frame.go), so sending it again is safe: on a new
	// connection (the old one is marked dead). A new connection can meet
	// a goaway too when the request takes longer than IdleTimeout to
	// follow the hello (a loaded machine, a short timeout), so up to
	// maxGoAwayRetries times.
	for i := 0; i < maxGoAwayRetries && errors.Is(err, errGoAway) && ctx.Err() == nil; i++ {
		t.m.goAwayRetries.Inc()
		if c, err = t.conn(ctx, t.peer(to)); err != nil {
			return nil, err
		}
		resp, err = c.call(ctx, kind, body)
	}
	return resp, err
}

// maxGoAwayRetries bounds how often a call is sent again after goaways.
const maxGoAwayRetries = 3

func tooLarge(what string, n, limit int) error {
	return fmt.Errorf("%w: %s body of %d bytes over the frame limit of %d", ErrTooLarge, what, n, limit)
}

func ctxError(to string, err error) error {
	return fmt.Errorf("transport: call %s: %w", to, err)
}

// callLocal serves a call to this node itself.
func (t *TCP) callLocal(ctx context.Context, kind uint8, body []byte) ([]byte, error) {
	type result struct {
		body []byte
		err  error
	}
	in := bytes.Clone(body)
	ch := make(chan result, 1)
	deadline, _ := ctx.Deadline()
	started := t.bg.Go(func() {
		hctx, cancel := context.WithDeadline(t.ctx, deadline)
		defer cancel()
		resp, err := t.serve(hctx, t.cfg.Name, kind, 0, in)
		switch {
		case t.bg.Stopped():
			ch <- result{err: ErrClosed}
		case err != nil:
			ch <- result{err: &RemoteError{Msg: err.Error()}}
		case responseHeaderLen-lenSize+len(resp) > t.cfg.MaxFrame:
			ch <- result{err: tooLarge("response", len(resp), t.cfg.MaxFrame)}
		case len(resp) == 0:
			ch <- result{}
		default:
			ch <- result{body: bytes.Clone(resp)}
		}
	})
	if !started {
		return nil, ErrClosed
	}
	select {
	case r := <-ch:
		return r.body, r.err
	case <-ctx.Done():
		return nil, ctxError(t.cfg.Name, ctx.Err())
	}
}

// serve runs the handler for request id (0 for a call to this node
// itself). A panic in the handler is recovered: it is logged with the
// request's identity and its stack, counted, and returned as an error, so
// one bad value from a peer costs one request, not the process.
func (t *TCP) serve(ctx context.Context, from string, kind uint8, id uint64, body []byte) (resp []byte, err error) {
	if t.h == nil {
		return nil, errors.New("no handler")
	}
	defer func() {
		if p := recover(); p != nil {
			t.m.handlerPanics.Inc()
			t.log.Error("handler panicked", "peer", from, "kind", kind, "request_id", id,
				"body_bytes", len(body), "panic", p, "stack", string(debug.Stack()))
			resp, err = nil, panicError(kind, p)
		}
	}()
	return t.h.Serve(ctx, from, kind, body)
}

// panicError is the error a caller receives for a handler's panic.
func panicError(kind uint8, p any) error {
	msg := fmt.Sprint(p)
	if len(msg) > maxPanicText {
		msg = msg[:maxPanicText] + "..."
	}
	return fmt.Errorf("transport: handler of kind %d panicked: %s", kind, msg)
}

// maxPanicText bounds the panic text a caller receives.
const maxPanicText = 512

// connErr is the error for a call on a connection that failed with cause.
func (t *TCP) connErr(peer string, cause error) error {
	if t.bg.Stopped() {
		return ErrClosed
	}
	return unreachable(peer, cause)
}

// track registers a connection for Close. It reports false, having closed
// nc, when the transport is closed.
func (t *TCP) track(nc net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bg.Stopped() {
		nc.Close()
		return false
	}
	t.open[nc] = struct{}{}
	return true
}

func (t *TCP) untrack(nc net.Conn) {
	nc.Close()
	t.mu.Lock()
	delete(t.open, nc)
	t.mu.Unlock()
}

// logConnEnd logs why a connection ended: a protocol error or (after the
// handshake) a stalled frame is a warning, a broken or closed connection is
// routine.
func (t *TCP) logConnEnd(msg, peer string, nc net.Conn, err error, handshook bool) {
	var ne net.Error
	switch {
	case errors.Is(err, errRefused):
		t.warnLimited(&t.refuseLogged, msg+": peer refused", "peer", peer, "remote", nc.RemoteAddr().String(), "err", err)
	case errors.Is(err, errBadFrame):
		t.m.badFrames.Inc()
		t.log.Warn(msg+": protocol error", "peer", peer, "remote", nc.RemoteAddr().String(), "err", err)
	case t.bg.Stopped():
	case errors.Is(err, errIdle), errors.Is(err, errGoAway):
		t.log.Debug(msg+": idle", "peer", peer, "remote", nc.RemoteAddr().String(), "idle_timeout", t.cfg.IdleTimeout)
	case errors.Is(err, errNoRoom):
		t.m.roomTimeouts.Inc()
		t.log.Warn(msg+": no room for a request in the in-flight budget", "peer", peer, "remote", nc.RemoteAddr().String(),
			"read_timeout", t.cfg.ReadTimeout, "max_inflight", t.cfg.MaxInflight)
	case handshook && errors.As(err, &ne) && ne.Timeout():
		// After the handshake, the only read deadline is ReadTimeout (a
		// write timeout closes the connection: its reader sees ErrClosed).
		t.m.readTimeouts.Inc()
		t.log.Warn(msg+": frame stalled", "peer", peer, "remote", nc.RemoteAddr().String(), "read_timeout", t.cfg.ReadTimeout, "err", err)
	default:
		t.log.Debug(msg, "peer", peer, "remote", nc.RemoteAddr().String(), "err", err)
	}
}

// peer returns the connection pool of a node, creating it on first use.
// Pools are never removed: their number is bounded by the cluster's size.
func (t *TCP) peer(name string) *peer {
	if p := (*t.peers.Load())[name]; p != nil {
		return p
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.peers.Load()
	if p := old[name]; p != nil {
		return p
	}
	p := &peer{name: name, slots: make([]slot, t.cfg.ConnsPerPeer)}
	m := maps.Clone(old)
	m[name] = p
	t.peers.Store(&m)
	return p
}

// peer is the connection pool of one node.
type peer struct {
	name  string
	next  atomic.Uint32
	slots []slot
}

// slot holds one of a peer's connections.
type slot struct {
	conn atomic.Pointer[clientConn] // nil or failed: dial; stored under mu

	mu sync.Mutex
	// guarded by mu
	dialing   *dial     // the dial in progress, if any
	failUntil time.Time // backoff after a failed dial
	failErr   error     // that dial's error
}

// nextSlot returns the slot the next call to p takes (round robin).
func (p *peer) nextSlot() *slot {
	return &p.slots[(p.next.Add(1)-1)%uint32(len(p.slots))]
}

// live returns the slot's connection, nil if it has none or it failed.
func (s *slot) live() *clientConn {
	if c := s.conn.Load(); c != nil && !c.dead.Load() {
		return c
	}
	return nil
}

// dial is one dial attempt that several calls may wait on.
type dial struct {
	done chan struct{} // closed when conn or err is set
	conn *clientConn
	err  error
}

// conn returns a live connection to p, dialing one if needed. The dial runs
// in its own goroutine so every waiting call, the first included, can give
// up when its ctx ends.
func (t *TCP) conn(ctx context.Context, p *peer) (*clientConn, error) {
	s := p.nextSlot()
	if c := s.live(); c != nil {
		return c, nil
	}
	s.mu.Lock()
	if c := s.live(); c != nil {
		s.mu.Unlock()
		return c, nil
	}
	d := s.dialing
	if d == nil {
		if time.Now().Before(s.failUntil) {
			err := s.failErr
			s.mu.Unlock()
			return nil, err
		}
		d = &dial{done: make(chan struct{})}
		if !t.bg.Go(func() { t.dialSlot(p, s, d) }) {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		s.dialing = d
		s.conn.Store(nil)
	}
	s.mu.Unlock()
	select {
	case <-d.done:
		return d.conn, d.err
	case <-ctx.Done():
		return nil, ctxError(p.name, ctx.Err())
	}
}

func (t *TCP) dialSlot(p *peer, s *slot, d *dial) {
	c, err := t.dial(p.name)
	s.mu.Lock()
	s.dialing = nil
	if err != nil {
		if s.failErr == nil {
			t.log.Warn("peer unreachable", "peer", p.name, "err", err)
		}
		s.failErr = err
		if t.cfg.DialBackoff > 0 {
			s.failUntil = time.Now().Add(t.cfg.DialBackoff)
		}
	} else {
		if s.failErr != nil {
			t.log.Info("peer reachable again", "peer", p.name)
		}
		s.conn.Store(c)
		s.failErr = nil
	}
	d.conn, d.err = c, err
	s.mu.Unlock()
	close(d.done)
}

// dial connects to a peer and runs the handshake.
func (t *TCP) dial(name string) (*clientConn, error) {
	if t.cfg.Resolve == nil {
		return nil, unreachable(name, errors.New("no resolver"))
	}
	addr, ok := t.cfg.Resolve(name)
	if !ok {
		return nil, unreachable(name, errors.New("unknown node"))
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.m.dialFailed.Inc()
		return nil, t.connErr(name, err)
	}
	if t.cfg.TLS != nil {
		if nc, err = t.dialTLS(ctx, name, addr, nc); err != nil {
			t.m.dialFailed.Inc()
			return nil, t.connErr(name, err)
		}
	}
	if !t.track(nc) {
		return nil, ErrClosed
	}
	c, err := t.handshake(ctx, name, nc)
	if err != nil {
		t.untrack(nc)
		t.m.dialFailed.Inc()
		var oe *net.OpError
		if t.cfg.TLS != nil && errors.As(err, &oe) && oe.Op == "remote error" {
			// TLS 1.3: the server checks our certificate after our side
			// of the handshake has ended; its refusal (an alert) arrives
			// here, unless a reset overtakes it.
			t.m.tlsFailed("out", tlsHandshake)
		}
		return nil, t.connErr(name, fmt.Errorf("handshake with %s: %w", addr, err))
	}
	t.m.dialOK.Inc()
	t.m.connsOut.Inc()
	t.log.Debug("peer connected", "peer", name, "addr", addr)
	// Refused only once Close has begun. Close then closes nc, tracked
	// before it stopped the group: a running readLoop ends and fails c.
	if !t.bg.Go(c.readLoop) {
		c.fail(net.ErrClosed)
		return nil, ErrClosed
	}
	if !t.bg.Go(func() { c.w.run(c.done) }) {
		return nil, ErrClosed
	}
	return c, nil
}

// dialTLS runs the TLS handshake on a dialed connection and checks that the
// server's certificate stands for the node dialed: an address that gossip
// (or anyone) pointed at another node, however valid its certificate, is
// refused before a request is sent. It closes nc on failure.
func (t *TCP) dialTLS(ctx context.Context, name, addr string, nc net.Conn) (net.Conn, error) {
	tc := tls.Client(nc, t.clientTLS(addr))
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		t.m.tlsFailed("out", tlsHandshake)
		return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	got, err := t.peerName(tc.ConnectionState())
	if err == nil && got != name {
		err = fmt.Errorf("the certificate at %s is for node %q", addr, got)
	}
	if err != nil {
		nc.Close()
		t.m.tlsFailed("out", tlsIdentity)
		return nil, err
	}
	return tc, nil
}

// peerName is the node name the verified certificate of a TLS peer stands
// for (Config.PeerName).
func (t *TCP) peerName(cs tls.ConnectionState) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", errors.New("the peer presented no certificate")
	}
	leaf := cs.PeerCertificates[0]
	if t.cfg.PeerName != nil {
		return t.cfg.PeerName(leaf)
	}
	if leaf.Subject.CommonName == "" {
		return "", errors.New("the peer's certificate has no CommonName")
	}
	return leaf.Subject.CommonName, nil
}

func (t *TCP) clientTLS(addr string) *tls.Config {
	c := t.cfg.TLS.Clone()
	if c.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			c.ServerName = host
		}
	}
	return c
}

// handshake sends this node's hello and checks the peer's answer.
func (t *TCP) handshake(ctx context.Context, name string, nc net.Conn) (*clientConn, error) {
	deadline, _ := ctx.Deadline()
	if err := nc.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if _, err := nc.Write(appendHello(nil, t.cfg.Name, t.cfg.MaxFrame)); err != nil {
		return nil, err
	}
	fr := t.newFrameReader(nc)
	peerName, peerMax, err := fr.readHello()
	if err != nil {
		return nil, err
	}
	if peerName != name {
		return nil, fmt.Errorf("found node %q at the address of %q", peerName, name)
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	fr.cr.timeout = t.cfg.ReadTimeout
	c := &clientConn{
		t:       t,
		peer:    name,
		nc:      nc,
		fr:      fr,
		maxSend: min(t.cfg.MaxFrame, peerMax),
		done:    make(chan struct{}),
		pending: make(map[uint64]*call),
	}
	c.w = newFrameWriter(nc, t.cfg.WriteTimeout, t.countSent)
	return c, nil
}

func (t *TCP) countSent(n int) {
	t.m.writes.Inc()
	if n > 0 {
		t.m.sent.Add(float64(n))
	}
}

const readBufferSize = 32 << 10

// newFrameReader returns a reader of nc's frames. Its read deadlines are
// off until the caller sets fr.cr.timeout after the handshake.
func (t *TCP) newFrameReader(nc net.Conn) frameReader {
	cr := &connReader{nc: nc, c: t.m.received}
	return frameReader{r: bufio.NewReaderSize(cr, readBufferSize), max: t.cfg.MaxFrame, cr: cr}
}

// acceptLoop accepts connections until the listener closes.
func (t *TCP) acceptLoop() {
	var backoff time.Duration
	for {
		nc, err := t.ln.Accept()
		if err != nil {
			if t.bg.Stopped() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors or similar: wait and retry.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t.log.Warn("accept failed", "err", err, "retry_in", backoff)
			timer := time.NewTimer(backoff)
			select {
			case <-timer.C:
			case <-t.ctx.Done():
				timer.Stop()
				return
			}
			continue
		}
		backoff = 0
		if t.inbound.Load() >= int64(t.cfg.MaxInbound) {
			t.reject(nc)
			continue
		}
		if !t.track(nc) {
			return
		}
		t.inbound.Add(1)
		if !t.bg.Go(func() {
			defer t.inbound.Add(-1)
			t.serveConn(nc)
		}) {
			t.inbound.Add(-1)
			t.untrack(nc)
			return
		}
	}
}

// reject closes an accepted connection over MaxInbound. It warns at most
// once a second, so a flood of connections does not flood the log.
func (t *TCP) reject(nc net.Conn) {
	// Count before closing: whoever sees the connection closed sees it
	// counted.
	t.m.inboundRejected.Inc()
	nc.Close()
	t.warnLimited(&t.rejectLogged, "inbound connection refused: too many open", "remote", nc.RemoteAddr().String(), "max_inbound", t.cfg.MaxInbound)
}

// warnLimited logs a warning unless last (Unix ns of the previous one)
// is less than a second ago, so that a flood of connections does not flood
// the log.
func (t *TCP) warnLimited(last *atomic.Int64, msg string, args ...any) {
	now := time.Now().UnixNano()
	if l := last.Load(); now-l >= int64(time.Second) && last.CompareAndSwap(l, now) {
		t.log.Warn(msg, args...)
	}
}
