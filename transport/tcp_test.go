package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTCP_roundTrip(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	a := startNode(t, r, "a", HandlerFunc(echo), nil)
	b := startNode(t, r, "b", HandlerFunc(echo), nil)
	ctx := t.Context()

	for _, tc := range []struct {
		name     string
		from     *TCP
		to       string
		kind     uint8
		body     []byte
		want     string
		wantErr  error
		wantText string
	}{
		{name: "a to b", from: a.TCP, to: "b", kind: 7, body: []byte("hello"), want: "a:7:hello"},
		{name: "b to a", from: b.TCP, to: "a", kind: 255, body: []byte("x"), want: "b:255:x"},
		{name: "empty body", from: a.TCP, to: "b", kind: 0, body: nil, want: "a:0:"},
		{name: "to itself", from: a.TCP, to: "a", kind: 3, body: []byte("me"), want: "a:3:me"},
		{name: "handler error", from: a.TCP, to: "b", kind: 99, wantText: "remote: boom"},
		{name: "handler error to itself", from: b.TCP, to: "b", kind: 99, wantText: "remote: boom"},
		{name: "unknown node", from: a.TCP, to: "nobody", kind: 1, wantErr: ErrUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.from.Call(ctx, tc.to, tc.kind, tc.body)
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			case tc.wantText != "":
				var re *RemoteError
				if !errors.As(err, &re) || err.Error() != tc.wantText {
					t.Fatalf("err = %v (%T), want RemoteError %q", err, err, tc.wantText)
				}
			case err != nil:
				t.Fatalf("err = %v", err)
			case string(got) != tc.want:
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}

	// A handler with nothing to say answers with an empty body.
	c := startNode(t, r, "c", HandlerFunc(func(context.Context, string, uint8, []byte) ([]byte, error) {
		return nil, nil
	}), nil)
	if got, err := a.Call(ctx, "c", 1, []byte("x")); err != nil || len(got) != 0 {
		t.Fatalf("empty response: got %q, %v", got, err)
	}
	_ = c
}

// TestTCP_outOfOrder runs many calls over one connection and answers them
// in the reverse order of their arrival, each answer released only after
// the previous one reached its caller. A connection that could not deliver
// responses out of order would deadlock here.
func TestTCP_outOfOrder(t *testing.T) {
	checkNoLeaks(t)
	const n = 64
	var (
		mu       sync.Mutex
		arrivals []int // call index by arrival position
		posOf    = map[int]int{}
		turn     [n]chan struct{}
		all      = make(chan struct{})
	)
	for i := range turn {
		turn[i] = make(chan struct{})
	}
	h := HandlerFunc(func(ctx context.Context, _ string, _ uint8, body []byte) ([]byte, error) {
		i, err := strconv.Atoi(string(body))
		if err != nil {
			return nil, err
		}
		mu.Lock()
		pos := len(arrivals)
		arrivals = append(arrivals, i)
		posOf[i] = pos
		if pos == n-1 {
			close(all)
			close(turn[n-1])
		}
		mu.Unlock()
		select {
		case <-turn[pos]:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return []byte("reply-" + string(body)), nil
	})
	r := newResolver()
	a := startNode(t, r, "a", nil, func(c *Config) { c.ConnsPerPeer = 1 })
	startNode(t, r, "b", h, nil)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var (
		wg        sync.WaitGroup
		doneMu    sync.Mutex
		completed []int
		errs      = make(chan error, n)
	)
	for i := range n {
		wg.Go(func() {
			got, err := a.Call(ctx, "b", 1, []byte(strconv.Itoa(i)))
			if err != nil {
				errs <- fmt.Errorf("call %d: %w", i, err)
				return
			}
			if want := "reply-" + strconv.Itoa(i); string(got) != want {
				errs <- fmt.Errorf("call %d got %q, want %q", i, got, want)
			}
			doneMu.Lock()
			completed = append(completed, i)
			doneMu.Unlock()
			mu.Lock()
			pos := posOf[i]
			mu.Unlock()
			if pos > 0 {
				close(turn[pos-1])
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	for k := range n {
		if completed[k] != arrivals[n-1-k] {
			t.Fatalf("completion order %v is not the reverse of arrival order %v", completed, arrivals)
		}
	}
	if got := metric(t, a.reg, "dynamod_transport_dials_total", "result", "ok"); got != 1 {
		t.Errorf("dials = %v, want 1 connection for all calls", got)
	}
}

// TestTCP_concurrentMixed runs calls of random sizes from several goroutines
// over two pooled connections and checks every answer.
func TestTCP_concurrentMixed(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	a := startNode(t, r, "a", nil, func(c *Config) { c.ConnsPerPeer = 2 })
	startNode(t, r, "b", HandlerFunc(func(_ context.Context, _ string, kind uint8, body []byte) ([]byte, error) {
		out := make([]byte, len(body))
		for i, c := range body {
			out[i] = c ^ kind
		}
		return out, nil
	}), nil)
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 100 {
				size := rng.IntN(1 << rng.IntN(17))
				body := make([]byte, size)
				for j := range body {
					body[j] = byte(rng.Uint32())
				}
				kind := uint8(rng.Uint32())
				got, err := a.Call(ctx, "b", kind, body)
				if err != nil {
					errs <- fmt.Errorf("goroutine %d call %d: %w", g, i, err)
					return
				}
				for j := range body {
					body[j] ^= kind
				}
				if !bytes.Equal(got, body) {
					errs <- fmt.Errorf("goroutine %d call %d: wrong answer for %d bytes", g, i, size)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := metric(t, a.reg, "dynamod_transport_dials_total", "result", "ok"); got != 2 {
		t.Errorf("dials = %v, want ConnsPerPeer = 2", got)
	}
}

func TestTCP_largeBody(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	a := startNode(t, r, "a", nil, nil)
	startNode(t, r, "b", HandlerFunc(func(_ context.Context, _ string, _ uint8, body []byte) ([]byte, error) {
		return bytes.Clone(body), nil
	}), nil)
	body := make([]byte, 16<<20)
	for i := range body {
		body[i] = byte(i * 7)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	got, err := a.Call(ctx, "b", 1, body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) {
		t.Fatal("16 MiB body came back changed")
	}
}

func TestTCP_deadline(t *testing.T) {
	checkNoLeaks(t)
	type seen struct {
		deadline time.Time
		ok       bool
		err      error
	}
	served := make(chan seen, 1)
	h := HandlerFunc(func(ctx context.Context, _ string, _ uint8, _ []byte) ([]byte, error) {
		dl, ok := ctx.Deadline()
		<-ctx.Done()
		served <- seen{dl, ok, ctx.Err()}
		return []byte("too late"), nil
	})
	r := newResolver()
	a := startNode(t, r, "a", nil, func(c *Config) { c.CallTimeout = 150 * time.Millisecond })
	b := startNode(t, r, "b", h, nil)

	t.Run("ctx deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		want, _ := ctx.Deadline()
		start := time.Now()
		_, err := a.Call(ctx, "b", 5, []byte("slow"))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
		if now := time.Now(); now.Before(want) {
			t.Errorf("returned after %v, %v before the deadline", now.Sub(start), want.Sub(now))
		}
		s := recv(t, served, 5*time.Second, "handler end")
		if !s.ok {
			t.Fatal("handler ctx has no deadline")
		}
		// The server's deadline is never earlier than the caller's (the
		// time left is rounded up and counted from arrival).
		if s.deadline.Before(want) || s.deadline.After(want.Add(time.Second)) {
			t.Errorf("handler deadline %v, caller's %v", s.deadline, want)
		}
		if !errors.Is(s.err, context.DeadlineExceeded) {
			t.Errorf("handler ctx err = %v, want DeadlineExceeded", s.err)
		}
	})

	t.Run("default call timeout", func(t *testing.T) {
		start := time.Now()
		_, err := a.Call(context.Background(), "b", 5, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
		if el := time.Since(start); el < 150*time.Millisecond {
			t.Errorf("returned after %v, before CallTimeout", el)
		}
		if s := recv(t, served, 5*time.Second, "handler end"); !s.ok {
			t.Error("handler ctx has no deadline")
		}
	})

	t.Run("expired ctx", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := a.Call(ctx, "b", 5, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want Canceled", err)
		}
	})

	eventually(t, 5*time.Second, "expired requests counted", func() bool {
		return metric(t, b.reg, "dynamod_transport_served_total", "kind", "5", "result", "expired") == 2
	})
	if got := metric(t, a.reg, "dynamod_transport_calls_total", "kind", "5", "result", "timeout"); got != 2 {
		t.Errorf("timeouts counted = %v, want 2", got)
	}
}

func TestTCP_peerRestart(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	a := startNode(t, r, "a", nil, nil)
	b := startNode(t, r, "b", HandlerFunc(echo), nil)
	ctx := t.Context()
	if _, err := a.Call(ctx, "b", 1, []byte("1")); err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()
	b.Close()
	if _, err := a.Call(ctx, "b", 1, []byte("2")); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("call to closed peer: err = %v, want ErrUnreachable", err)
	}
	startNode(t, r, "b", HandlerFunc(echo), func(c *Config) { c.BindAddr = addr })
	var got []byte
	eventually(t, 5*time.Second, "a call to the restarted peer", func() bool {
		var err error
		got, err = a.Call(ctx, "b", 1, []byte("3"))
		if err != nil && !errors.Is(err, ErrUnreachable) {
			t.Fatalf("unexpected error: %v", err)
		}
		return err == nil
	})
	if string(got) != "a:1:3" {
		t.Fatalf("got %q", got)
	}
	if n := metric(t, a.reg, "dynamod_transport_dials_total", "result", "ok"); n < 2 {
		t.Errorf("dials = %v, want a re-dial", n)
	}
}

// blocker is a handler that signals entry and blocks until its ctx ends.
type blocker struct {
	entered chan struct{}
	exited  chan error
}

func newBlocker(n int) *blocker {
	return &blocker{entered: make(chan struct{}, n), exited: make(chan error, n)}
}

func (b *blocker) Serve(ctx context.Context, _ string, _ uint8, _ []byte) ([]byte, error) {
	b.entered <- struct{}{}
	<-ctx.Done()
	b.exited <- ctx.Err()
	return nil, ctx.Err()
}

func TestTCP_serverClosedMidCall(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	a := startNode(t, r, "a", nil, nil)
	bl := newBlocker(1)
	b := startNode(t, r, "b", bl, nil)
	res := make(chan error, 1)
	go func() {
		_, err := a.Call(t.Context(), "b", 1, nil)
		res <- err
	}()
	recv(t, bl.entered, 5*time.Second, "handler start")
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	if err := recv(t, res, 5*time.Second, "call result"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if err := recv(t, bl.exited, 5*time.Second, "handler end"); !errors.Is(err, context.Canceled) {
		t.Errorf("handler ctx err = %v, want Canceled", err)
	}
	recv(t, closed, 5*time.Second, "server Close")
}

func TestTCP_closeFailsInflight(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	a := startNode(t, r, "a", nil, nil)
	const n = 20
	bl := newBlocker(n)
	startNode(t, r, "b", bl, nil)
	res := make(chan error, n)
	for range n {
		go func() {
			_, err := a.Call(context.Background(), "b", 1, nil)
			res <- err
		}()
	}
	for range n {
		recv(t, bl.entered, 5*time.Second, "handler start")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := recv(t, res, 5*time.Second, "call result"); !errors.Is(err, ErrClosed) {
			t.Errorf("in-flight call err = %v, want ErrClosed", err)
		}
	}
	// The peer notices the closed connection and cancels the handlers.
	for range n {
		recv(t, bl.exited, 5*time.Second, "handler end")
	}
	if _, err := a.Call(t.Context(), "b", 1, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("call after Close: err = %v, want ErrClosed", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestTCP_closeWaitsForHandlers(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	a := startNode(t, r, "a", nil, nil)
	const n = 50
	bl := newBlocker(n)
	b := startNode(t, r, "b", bl, nil)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { a.Call(t.Context(), "b", 1, nil) })
	}
	for range n {
		recv(t, bl.entered, 5*time.Second, "handler start")
	}
	b.Close()
	// Close returned, so every handler must have returned.
	if got := len(bl.exited); got != n {
		t.Errorf("%d of %d handlers returned before Close did", got, n)
	}
	wg.Wait()
}

func TestTCP_tooLarge(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	big := bytes.Repeat([]byte("x"), 4000)
	h := HandlerFunc(func(_ context.Context, _ string, kind uint8, body []byte) ([]byte, error) {
		if kind == 2 {
			return big, nil
		}
		return []byte("ok"), nil
	})
	small := startNode(t, r, "small", h, func(c *Config) { c.MaxFrame = 2048; c.ConnsPerPeer = 1 })
	def := startNode(t, r, "default", h, func(c *Config) { c.ConnsPerPeer = 1 })
	ctx := t.Context()

	// Over the caller's own limit: refused before dialing.
	if _, err := small.Call(ctx, "default", 1, big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("request over own limit: err = %v, want ErrTooLarge", err)
	}
	if n := metric(t, small.reg, "dynamod_transport_dials_total", "result", "ok"); n != 0 {
		t.Errorf("dialed %v times for a request that cannot be sent", n)
	}
	// Over the peer's limit, learned in the handshake.
	if _, err := def.Call(ctx, "small", 1, big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("request over peer limit: err = %v, want ErrTooLarge", err)
	}
	// A response over the limit the two ends agreed on.
	_, err := def.Call(ctx, "small", 2, nil)
	var re *RemoteError
	if !errors.Is(err, ErrTooLarge) || errors.As(err, &re) {
		t.Errorf("response over limit: err = %v (%T), want ErrTooLarge", err, err)
	}
	_, err = small.Call(ctx, "default", 2, nil)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("response over caller's limit: err = %v, want ErrTooLarge", err)
	}
	// The connections survived all that.
	for _, c := range []struct {
		from testNode
		to   string
	}{{def, "small"}, {small, "default"}} {
		if got, err := c.from.Call(ctx, c.to, 1, []byte("fits")); err != nil || string(got) != "ok" {
			t.Errorf("call after refusals: %q, %v", got, err)
		}
		if n := metric(t, c.from.reg, "dynamod_transport_dials_total", "result", "ok"); n != 1 {
			t.Errorf("dials = %v, want 1", n)
		}
	}

	// A raw peer announcing a frame over the limit is cut off.
	nc := rawHello(t, small.Addr(), "raw")
	hdr := requestHeader(1, 1, 1000, 4096)
	nc.Write(hdr[:])
	expectClosed(t, nc)
	eventually(t, 5*time.Second, "protocol error counted", func() bool {
		return metric(t, small.reg, "dynamod_transport_protocol_errors_total") == 1
	})
}

// rawHello dials addr, sends a valid hello as name and reads the answer.
func rawHello(t *testing.T, addr, name string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(appendHello(nil, name, 1<<20)); err != nil {
		t.Fatal(err)
	}
	fr := frameReader{r: bufio.NewReader(nc), max: 1 << 20}
	if _, _, err := fr.readHello(); err != nil {
		t.Fatalf("server hello: %v", err)
	}
	return nc
}

// expectClosed reads from nc until the server closes it.
func expectClosed(t *testing.T, nc net.Conn) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, nc); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("server did not close the connection: %v", err)
	}
}

// TestTCP_garbage feeds malformed input to a server from raw connections.
// Each must be cut off without harming the server.
func TestTCP_garbage(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	srv := startNode(t, r, "srv", HandlerFunc(echo), nil)
	a := startNode(t, r, "a", nil, nil)

	hello := appendHello(nil, "raw", 1<<20)
	badVersion := bytes.Clone(hello)
	badVersion[9] = protoVersion + 1
	frame := func(typ byte, rest ...byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(1+len(rest)))
		return append(append(b, typ), rest...)
	}
	resp := responseHeader(1, statusOK, 0)
	req := requestHeader(1, 1, 1000, 10)
	rng := rand.New(rand.NewPCG(42, 42))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	cases := []struct {
		name  string
		input []byte
	}{
		{"empty hello frame", frame(frameHello)},
		{"bad magic", frame(frameHello, 1, 2, 3, 4, protoVersion, 0, 0, 16, 0, 'x')},
		{"request before hello", req[:]},
		{"hello without name", frame(frameHello, 0x64, 0x79, 0x6e, 0x6d, protoVersion, 0, 0, 16, 0)},
		{"zero length", append(bytes.Clone(hello), 0, 0, 0, 0, 0)},
		{"unknown type", append(bytes.Clone(hello), frame(77, 1, 2, 3)...)},
		{"response to server", append(bytes.Clone(hello), resp[:]...)},
		{"short request", append(bytes.Clone(hello), frame(frameRequest, 1, 2, 3)...)},
		{"truncated body", append(bytes.Clone(hello), req[:]...)},
		{"huge length", append(bytes.Clone(hello), 0xff, 0xff, 0xff, 0xff, frameRequest)},
		{"hello twice", append(bytes.Clone(hello), hello...)},
	}
	for i := range 20 {
		cases = append(cases, struct {
			name  string
			input []byte
		}{fmt.Sprintf("random %d", i), random(1 + rng.IntN(200))})
		cases = append(cases, struct {
			name  string
			input []byte
		}{fmt.Sprintf("hello then random %d", i), append(bytes.Clone(hello), random(1+rng.IntN(200))...)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := nc.Write(tc.input); err != nil {
				t.Fatal(err)
			}
			// End our side, so a server waiting for more bytes sees a
			// truncated frame.
			nc.(*net.TCPConn).CloseWrite()
			expectClosed(t, nc)
		})
	}

	t.Run("version mismatch is answered", func(t *testing.T) {
		nc, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		nc.Write(badVersion)
		fr := frameReader{r: bufio.NewReader(nc), max: 1 << 20}
		name, _, err := fr.readHello()
		if err != nil || name != "srv" {
			t.Fatalf("server hello: %q, %v", name, err)
		}
		expectClosed(t, nc)
	})

	if got, err := a.Call(t.Context(), "srv", 1, []byte("still fine")); err != nil || string(got) != "a:1:still fine" {
		t.Fatalf("call after garbage: %q, %v", got, err)
	}
	if n := metric(t, srv.reg, "dynamod_transport_protocol_errors_total"); n < 10 {
		t.Errorf("protocol errors counted = %v, want most of the cases", n)
	}
}

func TestTCP_dialFailures(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	a := startNode(t, r, "a", nil, func(c *Config) { c.ConnsPerPeer = 1; c.DialBackoff = time.Hour })
	startNode(t, r, "b", HandlerFunc(echo), nil)
	ctx := t.Context()

	t.Run("backoff", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		r.set("dead", ln.Addr().String())
		ln.Close()
		for range 3 {
			if _, err := a.Call(ctx, "dead", 1, nil); !errors.Is(err, ErrUnreachable) {
				t.Fatalf("err = %v, want ErrUnreachable", err)
			}
		}
		if n := metric(t, a.reg, "dynamod_transport_dials_total", "result", "error"); n != 1 {
			t.Errorf("failed dials = %v, want 1 (later calls within the backoff)", n)
		}
	})

	t.Run("wrong node at address", func(t *testing.T) {
		addr, _ := r.resolve("b")
		r.set("impostor", addr)
		_, err := a.Call(ctx, "impostor", 1, nil)
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), `found node "b"`) {
			t.Fatalf("err = %v, want ErrUnreachable naming b", err)
		}
	})

	t.Run("no answer to handshake", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		r.set("mute", ln.Addr().String())
		quick := startNode(t, r, "quick", nil, func(c *Config) { c.DialTimeout = 100 * time.Millisecond; c.BindAddr = "" })
		if _, err := quick.Call(ctx, "mute", 1, nil); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("err = %v, want ErrUnreachable", err)
		}
	})
}

func TestTCP_metrics(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	a := startNode(t, r, "a", nil, func(c *Config) { c.ConnsPerPeer = 2 })
	b := startNode(t, r, "b", HandlerFunc(echo), nil)
	ctx := t.Context()
	for range 5 {
		if _, err := a.Call(ctx, "b", 7, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	a.Call(ctx, "b", 99, nil)
	a.Call(ctx, "nobody", 7, nil)
	for _, c := range []struct {
		reg    testNode
		name   string
		labels []string
		want   float64
	}{
		{a, "dynamod_transport_calls_total", []string{"kind", "7", "result", "ok"}, 5},
		{a, "dynamod_transport_calls_total", []string{"kind", "99", "result", "remote_error"}, 1},
		{a, "dynamod_transport_calls_total", []string{"kind", "7", "result", "unreachable"}, 1},
		{a, "dynamod_transport_call_duration_seconds", []string{"kind", "7"}, 6},
		{a, "dynamod_transport_connections", []string{"direction", "out"}, 2},
		{b, "dynamod_transport_served_total", []string{"kind", "7", "result", "ok"}, 5},
		{b, "dynamod_transport_served_total", []string{"kind", "99", "result", "error"}, 1},
		{b, "dynamod_transport_connections", []string{"direction", "in"}, 2},
	} {
		if got := metric(t, c.reg.reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, n := range []testNode{a, b} {
		if metric(t, n.reg, "dynamod_transport_sent_bytes_total") == 0 || metric(t, n.reg, "dynamod_transport_received_bytes_total") == 0 {
			t.Errorf("%s: byte counters not moving", n.cfg.Name)
		}
	}
}

func TestConfig_Validate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want []string // substrings of the error; none: valid
	}{
		{"default with name", func(*Config) {}, nil},
		{"zero values take defaults", func(c *Config) { *c = Config{Name: "n"} }, nil},
		{"no name", func(c *Config) { c.Name = "" }, []string{"Name"}},
		{"long name", func(c *Config) { c.Name = strings.Repeat("n", 256) }, []string{"Name"}},
		{"every bad field", func(c *Config) {
			c.DialTimeout, c.CallTimeout, c.WriteTimeout = -1, -1, -1
			c.MaxFrame, c.ConnsPerPeer, c.MaxConcurrent = 10, -1, -1
			c.ReadTimeout, c.IdleTimeout, c.MaxInbound, c.MaxConnInflight, c.MaxInflight = -1, -1, -1, -1, -1
		}, []string{"DialTimeout", "CallTimeout", "WriteTimeout", "MaxFrame", "ConnsPerPeer", "MaxConcurrent",
			"ReadTimeout", "IdleTimeout", "MaxInbound", "MaxConnInflight", "MaxInflight"}},
		{"huge frame", func(c *Config) { c.MaxFrame = 2 << 30 }, []string{"MaxFrame"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Name = "n"
			tc.mod(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors about %v", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, does not mention %s", err, w)
				}
			}
		})
	}
	if _, err := Listen(Config{}, nil); err == nil {
		t.Error("Listen accepted a config without a name")
	}
}

// TestTCP_stuckPeer talks to a peer that completes the handshake and then
// never reads: calls must fail with ErrUnreachable once the socket write
// times out or the send queue is full, well before their own deadline.
func TestTCP_stuckPeer(t *testing.T) {
	checkNoLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		fr := frameReader{r: bufio.NewReader(nc), max: 1 << 20}
		fr.readHello()
		nc.Write(appendHello(nil, "stuck", 1<<30))
		accepted <- nc // and read no more
	}()
	defer ln.Close()
	r := newResolver()
	r.set("stuck", ln.Addr().String())
	a := startNode(t, r, "a", nil, func(c *Config) {
		c.ConnsPerPeer = 1
		c.WriteTimeout = 200 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	body := make([]byte, 4<<20)
	const calls = 12 // 48 MiB: more than the socket buffers and the send queue hold
	errs := make(chan error, calls)
	start := time.Now()
	for range calls {
		go func() {
			_, err := a.Call(ctx, "stuck", 1, body)
			errs <- err
		}()
	}
	for range calls {
		if err := recv(t, errs, 20*time.Second, "call result"); !errors.Is(err, ErrUnreachable) {
			t.Errorf("err = %v, want ErrUnreachable", err)
		}
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("calls took %v to fail", el)
	}
	if nc, ok := <-accepted; ok {
		nc.Close()
	}
}
