package transport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of the bounds on what a peer can make a node hold: memory for
// frames, time for stalled frames, connections, in-flight request bytes.

// closedWithin reads from nc until the other end closes it and fails the
// test if that takes longer than d. It returns how long it took.
func closedWithin(t *testing.T, nc net.Conn, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	nc.SetReadDeadline(start.Add(d))
	_, err := io.Copy(io.Discard, nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", d)
	}
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("reading until close: %v", err)
	}
	return time.Since(start)
}

// heapAlloc returns the live heap after a collection.
func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestTCP_stalledFrameMemory: peers that announce the largest frame and
// then stall must not make the server allocate those frames.
func TestTCP_stalledFrameMemory(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	srv := startNode(t, r, "srv", HandlerFunc(echo), nil)
	const conns = 4
	bodyLen := srv.cfg.MaxFrame - requestFixed
	before := heapAlloc()
	for range conns {
		nc := rawHello(t, srv.Addr(), "raw")
		hdr := requestHeader(1, 1, 0, bodyLen)
		if _, err := nc.Write(append(hdr[:], make([]byte, 1000)...)); err != nil {
			t.Fatal(err)
		}
	}
	hello := len(appendHello(nil, "raw", 1<<20))
	want := float64(conns * (hello + requestHeaderLen + 1000))
	eventually(t, 5*time.Second, "the server to read the stalled frames' first bytes", func() bool {
		return metric(t, srv.reg, "dynamod_transport_received_bytes_total") >= want
	})
	time.Sleep(100 * time.Millisecond) // let the readers act on what they read
	after := heapAlloc()
	grown := int64(after) - int64(before)
	t.Logf("heap grew by %.1f MiB for %d stalled frames of %d MiB", float64(grown)/(1<<20), conns, bodyLen>>20)
	if grown > 32<<20 {
		t.Errorf("heap grew by %d MiB for %d stalled frames; want allocation only as bytes arrive", grown>>20, conns)
	}
}

// TestTCP_readTimeout: a frame whose bytes stop arriving closes the
// connection after ReadTimeout; a connection between frames may stay idle.
func TestTCP_readTimeout(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	const timeout = 300 * time.Millisecond
	srv := startNode(t, r, "srv", HandlerFunc(echo), func(c *Config) { c.ReadTimeout = timeout })

	t.Run("stalled body", func(t *testing.T) {
		nc := rawHello(t, srv.Addr(), "raw")
		hdr := requestHeader(1, 1, 0, 100)
		nc.Write(append(hdr[:], "only ten b"...))
		if took := closedWithin(t, nc, 5*time.Second); took < timeout/2 {
			t.Errorf("closed after %v, before the read timeout of %v", took, timeout)
		}
	})
	t.Run("stalled header", func(t *testing.T) {
		nc := rawHello(t, srv.Addr(), "raw")
		hdr := requestHeader(1, 1, 0, 100)
		nc.Write(hdr[:7])
		closedWithin(t, nc, 5*time.Second)
	})
	t.Run("idle connection stays", func(t *testing.T) {
		nc := rawHello(t, srv.Addr(), "raw")
		time.Sleep(3 * timeout)
		hdr := requestHeader(7, 1, 0, 2)
		if _, err := nc.Write(append(hdr[:], "hi"...)); err != nil {
			t.Fatalf("write after idling: %v", err)
		}
		fr := frameReader{r: bufio.NewReader(nc), max: 1 << 20}
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		h, err := fr.readHeader()
		if err != nil || h.id != 7 || h.status != statusOK {
			t.Fatalf("response after idling: %+v, %v", h, err)
		}
	})
	if n := metric(t, srv.reg, "dynamod_transport_read_timeouts_total"); n != 2 {
		t.Errorf("read timeouts counted = %v, want 2", n)
	}
}

// stallingPeer listens on 127.0.0.1 as node name: it answers the
// handshake, reads one request and answers with a response header that
// announces 1000 bytes followed by only ten of them, then sends nothing.
func stallingPeer(t *testing.T, name string) (addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 1)
	go func() {
		defer close(held)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		fr := frameReader{r: bufio.NewReader(nc), max: 1 << 20}
		if _, _, err := fr.readHello(); err != nil {
			nc.Close()
			return
		}
		nc.Write(appendHello(nil, name, 1<<20))
		h, err := fr.readHeader()
		if err != nil || fr.discard(h.bodyLen) != nil {
			nc.Close()
			return
		}
		resp := responseHeader(h.id, statusOK, 1000)
		nc.Write(append(resp[:], "ten bytes."...))
		held <- nc // and send no more
	}()
	t.Cleanup(func() {
		ln.Close()
		if nc, ok := <-held; ok {
			nc.Close()
		}
	})
	return ln.Addr().String()
}

// TestTCP_stalledResponse: on a dialed connection too, a response whose
// bytes stop arriving closes the connection and fails its calls after
// ReadTimeout, not when each call's own deadline ends.
func TestTCP_stalledResponse(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	r.set("slow", stallingPeer(t, "slow"))
	a := startNode(t, r, "a", nil, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := a.Call(ctx, "slow", 1, []byte("x"))
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("err = %v, want ErrUnreachable", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("call failed after %v", took)
	}
	if n := metric(t, a.reg, "dynamod_transport_read_timeouts_total"); n != 1 {
		t.Errorf("read timeouts counted = %v, want 1", n)
	}
}

// TestTCP_stalledResponseDeadline: a call whose response stalls mid-body
// still ends when its ctx does, long before ReadTimeout.
func TestTCP_stalledResponseDeadline(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	r.set("slow", stallingPeer(t, "slow"))
	a := startNode(t, r, "a", nil, func(c *Config) { c.ReadTimeout = time.Minute })
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	res := make(chan error, 1)
	go func() {
		_, err := a.Call(ctx, "slow", 1, []byte("x"))
		res <- err
	}()
	if err := recv(t, res, 5*time.Second, "the call to end with its ctx"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
}

// gate is a handler that reports each request's body length and blocks
// until released or its ctx ends.
type gate struct {
	entered chan int
	release chan struct{}
}

func newGate(n int) *gate {
	return &gate{entered: make(chan int, n), release: make(chan struct{}, n)}
}

func (g *gate) Serve(ctx context.Context, _ string, _ uint8, body []byte) ([]byte, error) {
	g.entered <- len(body)
	select {
	case <-g.release:
		return []byte("done"), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// expectNone fails the test if a request enters g within d.
func (g *gate) expectNone(t *testing.T, d time.Duration, why string) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case n := <-g.entered:
		t.Fatalf("a request of %d bytes started: %s", n, why)
	case <-timer.C:
	}
}

// TestTCP_inflightPerConn: one connection holds at most MaxConnInflight
// bytes of requests; a request that does not fit waits for earlier ones.
func TestTCP_inflightPerConn(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	g := newGate(8)
	const cost = 16<<10 + requestCost // of one request below
	srv := startNode(t, r, "srv", g, func(c *Config) { c.MaxConnInflight = 2*cost + cost/2 })
	a := startNode(t, r, "a", nil, func(c *Config) { c.ConnsPerPeer = 1 })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	body := make([]byte, 16<<10)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := a.Call(ctx, "srv", 1, body)
			errs <- err
		}()
	}
	recv(t, g.entered, 5*time.Second, "first request")
	recv(t, g.entered, 5*time.Second, "second request")
	g.expectNone(t, 300*time.Millisecond, "three requests over a connection bound of two and a half")
	if got := metric(t, srv.reg, "dynamod_transport_inflight_bytes"); got != 2*cost {
		t.Errorf("in-flight bytes = %v, want %d", got, 2*cost)
	}
	g.release <- struct{}{}
	recv(t, g.entered, 5*time.Second, "third request once the first ended")
	g.release <- struct{}{}
	g.release <- struct{}{}
	for range 3 {
		if err := recv(t, errs, 10*time.Second, "call result"); err != nil {
			t.Errorf("call: %v", err)
		}
	}

	// A request larger than the bound runs alone.
	go func() {
		_, err := a.Call(ctx, "srv", 1, make([]byte, 100<<10))
		errs <- err
	}()
	if n := recv(t, g.entered, 5*time.Second, "large request"); n != 100<<10 {
		t.Errorf("large request of %d bytes", n)
	}
	g.release <- struct{}{}
	if err := recv(t, errs, 10*time.Second, "large call result"); err != nil {
		t.Errorf("large call: %v", err)
	}
	eventually(t, 5*time.Second, "in-flight bytes back to 0", func() bool {
		return metric(t, srv.reg, "dynamod_transport_inflight_bytes") == 0
	})
}

// TestTCP_inflightOverall: all inbound connections together hold at most
// MaxInflight bytes of requests.
func TestTCP_inflightOverall(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	g := newGate(8)
	const cost = 16<<10 + requestCost // of one request below
	startNode(t, r, "srv", g, func(c *Config) { c.MaxInflight = 2*cost + cost/2 })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	body := make([]byte, 16<<10)
	errs := make(chan error, 4)
	for _, name := range []string{"a", "b"} {
		c := startNode(t, r, name, nil, func(c *Config) { c.ConnsPerPeer = 1 })
		for range 2 {
			go func() {
				_, err := c.Call(ctx, "srv", 1, body)
				errs <- err
			}()
		}
	}
	recv(t, g.entered, 5*time.Second, "first request")
	recv(t, g.entered, 5*time.Second, "second request")
	g.expectNone(t, 300*time.Millisecond, "four requests over a bound of two and a half")
	g.release <- struct{}{}
	recv(t, g.entered, 5*time.Second, "third request")
	g.release <- struct{}{}
	recv(t, g.entered, 5*time.Second, "fourth request")
	g.release <- struct{}{}
	g.release <- struct{}{}
	for range 4 {
		if err := recv(t, errs, 10*time.Second, "call result"); err != nil {
			t.Errorf("call: %v", err)
		}
	}
}

// TestTCP_inflightCountsRequests: each request is charged a fixed cost
// besides its body (its goroutine), so requests with empty bodies are
// bounded too, overall and not only by MaxConcurrent per connection.
func TestTCP_inflightCountsRequests(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	g := newGate(16)
	srv := startNode(t, r, "srv", g, func(c *Config) { c.MaxInflight = 8 * requestCost })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	errs := make(chan error, 12)
	for _, name := range []string{"a", "b", "c"} {
		c := startNode(t, r, name, nil, func(c *Config) { c.ConnsPerPeer = 1 })
		for range 4 {
			go func() {
				_, err := c.Call(ctx, "srv", 1, nil)
				errs <- err
			}()
		}
	}
	for range 8 {
		recv(t, g.entered, 5*time.Second, "a request within the bound")
	}
	g.expectNone(t, 300*time.Millisecond, "twelve empty requests over a bound of eight")
	if got := metric(t, srv.reg, "dynamod_transport_inflight_bytes"); got != 8*requestCost {
		t.Errorf("in-flight bytes = %v, want %d", got, 8*requestCost)
	}
	for range 12 {
		g.release <- struct{}{}
	}
	for range 4 {
		recv(t, g.entered, 5*time.Second, "the other requests")
	}
	for range 12 {
		if err := recv(t, errs, 10*time.Second, "call result"); err != nil {
			t.Errorf("call: %v", err)
		}
	}
}

// TestTCP_maxInbound: past MaxInbound open accepted connections, a new one
// is closed at once and counted; once one closes, connections are served
// again.
func TestTCP_maxInbound(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	srv := startNode(t, r, "srv", HandlerFunc(echo), func(c *Config) { c.MaxInbound = 2 })
	first := rawHello(t, srv.Addr(), "raw1")
	rawHello(t, srv.Addr(), "raw2")

	nc, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write(appendHello(nil, "raw3", 1<<20))
	closedWithin(t, nc, 3*time.Second)
	if n := metric(t, srv.reg, "dynamod_transport_inbound_rejected_total"); n != 1 {
		t.Errorf("rejected connections counted = %v, want 1", n)
	}

	first.Close()
	a := startNode(t, r, "a", nil, nil)
	eventually(t, 5*time.Second, "a call to succeed once a slot is free", func() bool {
		got, err := a.Call(t.Context(), "srv", 1, []byte("x"))
		return err == nil && string(got) == "a:1:x"
	})
}

// TestBudget: bytes are granted in arrival order, a request over the limit
// is charged the limit, and a waiter that gives up takes nothing and
// unblocks those behind it.
func TestBudget(t *testing.T) {
	b := newBudget(100, nil)
	ctx := t.Context()
	if n, err := b.acquire(ctx, 0); n != 0 || err != nil {
		t.Fatalf("acquire(0) = %d, %v", n, err)
	}
	if n, err := b.acquire(ctx, 500); n != 100 || err != nil {
		t.Fatalf("acquire(500) = %d, %v; want the limit", n, err)
	}
	type grant struct {
		name string
		n    int
		err  error
	}
	got := make(chan grant, 3)
	wait := func(name string, ctx context.Context, n int) {
		go func() {
			n, err := b.acquire(ctx, n)
			got <- grant{name, n, err}
		}()
	}
	queued := func(n int) func() bool {
		return func() bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			return len(b.waiters) == n
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	wait("big", cctx, 90)
	eventually(t, 5*time.Second, "big to queue", queued(1))
	wait("small", ctx, 20)
	eventually(t, 5*time.Second, "small to queue", queued(2))
	b.release(100)
	if g := recv(t, got, 5*time.Second, "a grant"); g.name != "big" || g.n != 90 {
		t.Fatalf("first grant %+v, want big first", g)
	}
	// small (20) does not fit beside big (90): it waits for big.
	wait("late", ctx, 10)
	eventually(t, 5*time.Second, "late to queue behind small", queued(2))
	b.release(90)
	for range 2 {
		if g := recv(t, got, 5*time.Second, "a grant"); g.err != nil {
			t.Fatalf("grant %+v", g)
		}
	}
	// used: 30. A waiter that gives up takes nothing.
	wait("quitter", cctx, 80)
	eventually(t, 5*time.Second, "quitter to queue", queued(1))
	cancel()
	if g := recv(t, got, 5*time.Second, "the quitter"); g.n != 0 || !errors.Is(g.err, context.Canceled) {
		t.Fatalf("canceled acquire = %+v", g)
	}
	b.release(30)
	if b.used != 0 || len(b.waiters) != 0 {
		t.Fatalf("used %d, %d waiters; want 0, 0", b.used, len(b.waiters))
	}
}

// TestTCP_stalledFramesDoNotStarve: frames that announce the largest body
// and stall after 1 KiB hold only their first buffer of the shared budget,
// so peers keep being served, small and large requests alike. (When the
// announced length was charged, four such frames took all of MaxInflight
// until ReadTimeout.)
func TestTCP_stalledFramesDoNotStarve(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	srv := startNode(t, r, "srv", HandlerFunc(echo), func(c *Config) { c.ReadTimeout = time.Minute })
	a := startNode(t, r, "a", nil, nil)
	const stallers = 8
	bodyLen := srv.cfg.MaxFrame - requestFixed
	for i := range stallers {
		nc := rawHello(t, srv.Addr(), fmt.Sprintf("raw%d", i))
		hdr := requestHeader(1, 1, 0, bodyLen)
		if _, err := nc.Write(append(hdr[:], make([]byte, 1024)...)); err != nil {
			t.Fatal(err)
		}
	}
	held := float64(stallers * (requestCost + growChunk))
	eventually(t, 5*time.Second, "the stalled frames to hold their first buffers", func() bool {
		return metric(t, srv.reg, "dynamod_transport_inflight_bytes") == held
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for i := range 20 {
		body := fmt.Appendf(nil, "small %d", i)
		if got, err := a.Call(ctx, "srv", 1, body); err != nil || string(got) != "a:1:"+string(body) {
			t.Fatalf("small call %d beside stalled frames: %q, %v", i, got, err)
		}
	}
	big := bytes.Repeat([]byte("x"), 8<<20)
	if got, err := a.Call(ctx, "srv", 2, big); err != nil || len(got) != len("a:2:")+len(big) {
		t.Fatalf("8 MiB call beside stalled frames: %d bytes, %v", len(got), err)
	}
	eventually(t, 5*time.Second, "only the stalled frames' bytes held", func() bool {
		return metric(t, srv.reg, "dynamod_transport_inflight_bytes") == held
	})
}

// lenHandler answers with the length of the request body, in decimal.
func lenHandler(_ context.Context, _ string, _ uint8, body []byte) ([]byte, error) {
	return strconv.AppendInt(nil, int64(len(body)), 10), nil
}

// TestTCP_largeFramesOverBudget: 48 large frames at once from three peers
// over four connections each, about 24 MiB against a 2 MiB MaxInflight:
// frames hold bytes while they wait for more, yet every call completes
// and the budget drains (see shared for why no frame waits forever).
func TestTCP_largeFramesOverBudget(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	srv := startNode(t, r, "srv", HandlerFunc(lenHandler), func(c *Config) {
		c.MaxInflight = 2 << 20
		c.MaxFrame = 1 << 20
	})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(1, 2))
	errs := make(chan error, 48)
	for _, name := range []string{"a", "b", "c"} {
		n := startNode(t, r, name, nil, func(c *Config) { c.ConnsPerPeer = 4 })
		for range 16 {
			size := 100<<10 + rng.IntN(1<<20-requestFixed-100<<10+1)
			go func() {
				got, err := n.Call(ctx, "srv", 1, make([]byte, size))
				if err == nil && string(got) != strconv.Itoa(size) {
					err = fmt.Errorf("answer %q for %d bytes", got, size)
				}
				errs <- err
			}()
		}
	}
	for range 48 {
		if err := recv(t, errs, time.Minute, "a large call's result"); err != nil {
			t.Errorf("large call: %v", err)
		}
	}
	eventually(t, 5*time.Second, "the budget to drain", srv.inflight.drained)
}

// tightServer starts srv with a gate handler and a shared budget that
// holds three requests of 16 KiB (24 KiB each with requestCost; the small
// frames' reserve, 18 KiB, holds none), and fills it with three calls
// from a, which the gate holds until released.
func tightServer(t *testing.T, r *resolver, mod func(*Config)) (srv, a testNode, g *gate, held <-chan error) {
	t.Helper()
	g = newGate(8)
	srv = startNode(t, r, "srv", g, func(c *Config) {
		c.MaxInflight = 3 * (16<<10 + requestCost)
		if mod != nil {
			mod(c)
		}
	})
	a = startNode(t, r, "a", nil, func(c *Config) { c.ConnsPerPeer = 1 })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := a.Call(ctx, "srv", 1, make([]byte, 16<<10))
			errs <- err
		}()
	}
	for range 3 {
		recv(t, g.entered, 5*time.Second, "a request filling the budget")
	}
	return srv, a, g, errs
}

// TestTCP_expiredWaitingForRoom: a request whose deadline passes while it
// waits for room in the shared budget is skipped as its bytes arrive: the
// connection stays up and its next requests are served.
func TestTCP_expiredWaitingForRoom(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	srv, a, g, held := tightServer(t, r, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := a.Call(ctx, "srv", 1, make([]byte, 16<<10)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call over a full budget = %v, want DeadlineExceeded", err)
	}
	eventually(t, 5*time.Second, "the waiting request to be skipped", func() bool {
		return metric(t, srv.reg, "dynamod_transport_served_total", "kind", "1", "result", "expired") == 1
	})
	g.expectNone(t, 100*time.Millisecond, "the expired request must not reach the handler")
	for range 3 {
		g.release <- struct{}{}
	}
	for range 3 {
		if err := recv(t, held, 10*time.Second, "a held call's result"); err != nil {
			t.Errorf("held call: %v", err)
		}
	}
	g.release <- struct{}{}
	if got, err := a.Call(t.Context(), "srv", 1, []byte("after")); err != nil || string(got) != "done" {
		t.Fatalf("call on the same connection after the skipped one: %q, %v", got, err)
	}
	if n := metric(t, a.reg, "dynamod_transport_dials_total", "result", "ok"); n != 1 {
		t.Errorf("a dialed %v times, want 1: the connection should have stayed up", n)
	}
}

// TestTCP_noRoomClosesConnection: a request without a deadline that waits
// ReadTimeout for room in the shared budget closes its connection, which
// releases what it held; the requests holding the budget are unharmed.
func TestTCP_noRoomClosesConnection(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	srv, _, g, held := tightServer(t, r, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	nc := rawHello(t, srv.Addr(), "raw")
	hdr := requestHeader(1, 1, 0, 16<<10)
	if _, err := nc.Write(append(hdr[:], make([]byte, 16<<10)...)); err != nil {
		t.Fatal(err)
	}
	closedWithin(t, nc, 5*time.Second)
	if n := metric(t, srv.reg, "dynamod_transport_inflight_timeouts_total"); n != 1 {
		t.Errorf("in-flight timeouts counted = %v, want 1", n)
	}
	for range 3 {
		g.release <- struct{}{}
	}
	for range 3 {
		if err := recv(t, held, 10*time.Second, "a held call's result"); err != nil {
			t.Errorf("held call: %v", err)
		}
	}
	eventually(t, 5*time.Second, "the budget to drain", srv.inflight.drained)
}

// TestTCP_hostileLargeFrames: peers that send most of large frames, and
// then a byte every 20 ms so that ReadTimeout (400 ms) never fires, fill
// the room of growing frames and take the leadership (see shared). Small
// requests keep being served throughout, from the reserve; the leader is
// cut ReadTimeout after its promotion although its bytes still trickle in,
// a frame that waits ReadTimeout for room is cut too, and an honest large
// request then gets through.
func TestTCP_hostileLargeFrames(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	const readTimeout = 400 * time.Millisecond
	srv := startNode(t, r, "srv", HandlerFunc(lenHandler), func(c *Config) {
		c.MaxInflight = 4 << 20 // reserve 1 MiB; room about 2 MiB: two frames
		c.MaxFrame = 1 << 20
		c.ReadTimeout = readTimeout
	})
	a := startNode(t, r, "a", nil, nil)
	bodyLen := srv.cfg.MaxFrame - requestFixed
	var drippers sync.WaitGroup
	defer drippers.Wait()
	stop := make(chan struct{})
	defer close(stop)
	conns := make([]net.Conn, 4)
	for i := range conns {
		nc := rawHello(t, srv.Addr(), fmt.Sprintf("raw%d", i))
		hdr := requestHeader(1, 1, 0, bodyLen)
		if _, err := nc.Write(append(hdr[:], make([]byte, 600<<10)...)); err != nil {
			t.Fatal(err)
		}
		conns[i] = nc
		drippers.Go(func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for range 400 { // at most 8 s
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				nc.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := nc.Write([]byte{0}); err != nil {
					return // cut by the server
				}
			}
		})
	}
	eventually(t, 5*time.Second, "a leader among the hostile frames", func() bool {
		_, _, _, leader := srv.inflight.state()
		return leader != nil
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for i := range 20 {
		if got, err := a.Call(ctx, "srv", 1, make([]byte, 4<<10)); err != nil || string(got) != "4096" {
			t.Fatalf("small call %d beside hostile frames: %q, %v", i, got, err)
		}
	}
	eventually(t, 10*time.Second, "the server to cut the leader and the waiting frames", func() bool {
		return metric(t, srv.reg, "dynamod_transport_read_timeouts_total")+
			metric(t, srv.reg, "dynamod_transport_inflight_timeouts_total") >= 2
	})
	if n := metric(t, srv.reg, "dynamod_transport_read_timeouts_total"); n < 1 {
		t.Errorf("read timeouts = %v: the trickling leader was not cut", n)
	}
	if got, err := a.Call(ctx, "srv", 2, make([]byte, 600<<10)); err != nil || string(got) != strconv.Itoa(600<<10) {
		t.Fatalf("large call after the leader was cut: %q, %v", got, err)
	}
}
