package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// Tests of idle inbound connections: closed after IdleTimeout with a
// goaway, and calls that cross a goaway sent again.

// readGoAway reads frames from nc (after its hello) until the goaway and
// then expects the end of the stream; it returns the ids of the responses
// before the goaway.
func readGoAway(t *testing.T, nc net.Conn, within time.Duration) []uint64 {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(within))
	fr := frameReader{r: bufio.NewReader(nc), max: 1 << 20}
	var ids []uint64
	for {
		h, err := fr.readHeader()
		if err != nil {
			t.Fatalf("reading until the goaway: %v (responses before: %v)", err, ids)
		}
		if h.typ != frameResponse {
			t.Fatalf("frame type %d from the server", h.typ)
		}
		if err := fr.discard(h.bodyLen); err != nil {
			t.Fatal(err)
		}
		if h.id == 0 {
			if h.status != statusOK || h.bodyLen != 0 {
				t.Errorf("goaway with status %d and %d body bytes, want 0 and 0", h.status, h.bodyLen)
			}
			break
		}
		ids = append(ids, h.id)
	}
	if _, err := fr.r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the goaway: %v, want the end of the stream", err)
	}
	return ids
}

// TestTCP_idleTimeout: an inbound connection without a request in flight
// for IdleTimeout gets a goaway and is closed; one with a request running
// is not, and its idle time starts when the request ends; one that sends
// no hello is closed after DialTimeout; a request sent after the goaway
// is not served.
func TestTCP_idleTimeout(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	const idle = 300 * time.Millisecond
	g := newGate(4)
	srv := startNode(t, r, "srv", g, func(c *Config) { c.IdleTimeout = idle })

	t.Run("silent before hello", func(t *testing.T) {
		nc, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if took := closedWithin(t, nc, 5*time.Second); took < srv.cfg.DialTimeout/2 {
			t.Errorf("closed after %v, before DialTimeout (%v)", took, srv.cfg.DialTimeout)
		}
	})
	t.Run("idle after hello", func(t *testing.T) {
		nc := rawHello(t, srv.Addr(), "raw")
		start := time.Now()
		if ids := readGoAway(t, nc, 5*time.Second); len(ids) != 0 {
			t.Errorf("responses %v before the goaway, want none", ids)
		}
		if took := time.Since(start); took < idle/2 {
			t.Errorf("goaway after %v, before IdleTimeout (%v)", took, idle)
		}
	})
	t.Run("busy, then idle", func(t *testing.T) {
		nc := rawHello(t, srv.Addr(), "raw")
		hdr := requestHeader(1, 1, 0, 2)
		if _, err := nc.Write(append(hdr[:], "hi"...)); err != nil {
			t.Fatal(err)
		}
		recv(t, g.entered, 5*time.Second, "the request")
		// Three idle timeouts with the request running: the connection
		// stays, and says nothing.
		nc.SetReadDeadline(time.Now().Add(3 * idle))
		var b [1]byte
		if _, err := nc.Read(b[:]); !isTimeout(err) {
			t.Fatalf("read while the request runs: %v, want a timeout", err)
		}
		g.release <- struct{}{}
		start := time.Now()
		if ids := readGoAway(t, nc, 5*time.Second); len(ids) != 1 || ids[0] != 1 {
			t.Errorf("responses before the goaway %v, want [1]", ids)
		}
		if took := time.Since(start); took < idle/2 {
			t.Errorf("goaway %v after the request ended, before IdleTimeout (%v)", took, idle)
		}
	})
	t.Run("request after the goaway", func(t *testing.T) {
		nc := rawHello(t, srv.Addr(), "raw")
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		fr := frameReader{r: bufio.NewReader(nc), max: 1 << 20}
		if h, err := fr.readHeader(); err != nil || h.id != 0 {
			t.Fatalf("want a goaway: %+v, %v", h, err)
		}
		hdr := requestHeader(1, 1, 0, 2)
		if _, err := nc.Write(append(hdr[:], "hi"...)); err != nil {
			t.Fatal(err)
		}
		g.expectNone(t, 300*time.Millisecond, "a request sent after the goaway")
		closedWithin(t, nc, 5*time.Second)
	})
	if n := metric(t, srv.reg, "dynamod_transport_idle_closed_total"); n != 3 {
		t.Errorf("idle closes counted = %v, want 3", n)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// goAwayPeer listens on 127.0.0.1 as node name. On its first connection
// it reads one request and answers with a goaway instead, as a server
// does when the request crossed its goaway; on later ones it answers each
// request with "served on <n>", n counting connections from 1.
func goAwayPeer(t *testing.T, name string, goaways int) (addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 1; n <= 5; n++ {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			serveFake(nc, name, n, goaways)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

func serveFake(nc net.Conn, name string, n, goaways int) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	fr := frameReader{r: bufio.NewReader(nc), max: 1 << 20}
	if _, _, err := fr.readHello(); err != nil {
		return
	}
	nc.Write(appendHello(nil, name, 1<<20))
	for {
		h, err := fr.readHeader()
		if err != nil || fr.discard(h.bodyLen) != nil {
			return
		}
		if n <= goaways {
			ga := responseHeader(0, statusOK, 0)
			nc.Write(ga[:])
			io.Copy(io.Discard, nc) // until the dialer closes
			return
		}
		body := fmt.Appendf(nil, "served on %d", n)
		resp := responseHeader(h.id, statusOK, len(body))
		nc.Write(append(resp[:], body...))
	}
}

// TestTCP_goAwayRetried: a call whose request crossed the peer's goaway
// is sent again once, on a new connection, and succeeds.
func TestTCP_goAwayRetried(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	r.set("idle", goAwayPeer(t, "idle", 1))
	r.set("busy", goAwayPeer(t, "busy", maxGoAwayRetries))
	r.set("gone", goAwayPeer(t, "gone", maxGoAwayRetries+1))
	a := startNode(t, r, "a", nil, nil)
	got, err := a.Call(t.Context(), "idle", 1, []byte("x"))
	if err != nil || string(got) != "served on 2" {
		t.Fatalf("call across a goaway: %q, %v; want served on the second connection", got, err)
	}
	if n := metric(t, a.reg, "dynamod_transport_goaway_retries_total"); n != 1 {
		t.Errorf("goaway retries = %v, want 1", n)
	}
	if n := metric(t, a.reg, "dynamod_transport_dials_total", "result", "ok"); n != 2 {
		t.Errorf("dials = %v, want 2", n)
	}
	// A new connection can meet a goaway too (its request came after the
	// idle timeout): sent again up to maxGoAwayRetries times, then failed.
	want := fmt.Sprintf("served on %d", maxGoAwayRetries+1)
	if got, err := a.Call(t.Context(), "busy", 1, []byte("x")); err != nil || string(got) != want {
		t.Fatalf("call across %d goaways: %q, %v; want %q", maxGoAwayRetries, got, err, want)
	}
	if _, err := a.Call(t.Context(), "gone", 1, []byte("x")); !errors.Is(err, errGoAway) {
		t.Fatalf("call across %d goaways: %v, want the goaway", maxGoAwayRetries+1, err)
	}
}

// TestTCP_idleRace: calls spaced around the server's IdleTimeout, so that
// some are sent just as the server closes the connection: every call
// succeeds.
func TestTCP_idleRace(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	const idle = 20 * time.Millisecond
	srv := startNode(t, r, "srv", HandlerFunc(echo), func(c *Config) { c.IdleTimeout = idle })
	a := startNode(t, r, "a", nil, nil)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 150 {
		// Pauses of 15 to 25 ms, around the idle timeout: part of the
		// workload, not a wait for anything.
		time.Sleep(idle*3/4 + time.Duration(rng.Int64N(int64(idle/2))))
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		got, err := a.Call(ctx, "srv", 1, []byte("x"))
		cancel()
		if err != nil || string(got) != "a:1:x" {
			t.Fatalf("call %d: %q, %v", i, got, err)
		}
	}
	closed := metric(t, srv.reg, "dynamod_transport_idle_closed_total")
	retried := metric(t, a.reg, "dynamod_transport_goaway_retries_total")
	t.Logf("150 calls: %v connections closed idle, %v calls sent again after a goaway", closed, retried)
	if closed == 0 {
		t.Error("no connection was closed for idleness")
	}
}
