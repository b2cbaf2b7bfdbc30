package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// goResult is one done call of TCP.Go.
type goResult struct {
	body []byte
	err  error
}

// goCall runs TCP.Go and returns a channel with its result; a second
// done call fails the test.
func goCall(t *testing.T, tr *TCP, ctx context.Context, to string, kind uint8, body []byte) <-chan goResult {
	t.Helper()
	ch := make(chan goResult, 1)
	var calls atomic.Int32
	tr.Go(ctx, to, kind, body, func(b []byte, err error) {
		if calls.Add(1) != 1 {
			t.Errorf("done called again (%q, %v)", b, err)
			return
		}
		ch <- goResult{b, err}
	})
	return ch
}

func TestTCPGo_replies(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	a := startNode(t, r, "a", HandlerFunc(echo), nil)
	startNode(t, r, "b", HandlerFunc(echo), nil)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	// The first call finds no connection (a pooled goroutine dials and
	// calls), the later ones the connection (its read loop answers).
	for i := range 50 {
		body := fmt.Appendf(nil, "req %d", i)
		res := recv(t, goCall(t, a.TCP, ctx, "b", 3, body), 5*time.Second, "reply")
		if res.err != nil || !bytes.Contains(res.body, body) {
			t.Fatalf("call %d: %q, %v", i, res.body, res.err)
		}
	}
	// To this node itself, and without a deadline: Call's way.
	if res := recv(t, goCall(t, a.TCP, ctx, "a", 3, []byte("self")), 5*time.Second, "reply"); res.err != nil || !bytes.Contains(res.body, []byte("self")) {
		t.Fatalf("call to self: %q, %v", res.body, res.err)
	}
	if res := recv(t, goCall(t, a.TCP, context.Background(), "b", 3, []byte("unbounded")), 5*time.Second, "reply"); res.err != nil {
		t.Fatalf("call without a deadline: %v", res.err)
	}
	if got := metric(t, a.reg, "dynamod_transport_calls_total", "kind", "3", "result", "ok"); got != 52 {
		t.Errorf("calls counted ok = %v, want 52", got)
	}
}

func TestTCPGo_deadline(t *testing.T) {
	checkNoLeaks(t)
	release := make(chan struct{})
	h := HandlerFunc(func(ctx context.Context, _ string, _ uint8, body []byte) ([]byte, error) {
		if string(body) == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return body, nil
	})
	r := newResolver()
	a := startNode(t, r, "a", nil, nil)
	startNode(t, r, "b", h, nil)
	warm := recv(t, goCall(t, a.TCP, t.Context(), "b", 4, []byte("warm")), 5*time.Second, "reply")
	if warm.err != nil {
		t.Fatal(warm.err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := recv(t, goCall(t, a.TCP, ctx, "b", 4, []byte("slow")), 5*time.Second, "timeout")
	if !errors.Is(res.err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", res.err)
	}
	if el := time.Since(start); el < 90*time.Millisecond {
		t.Errorf("timed out after %v, before the deadline", el)
	}
	// A context that cannot be a map key gets a watch of its own.
	uctx, ucancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer ucancel()
	res = recv(t, goCall(t, a.TCP, uncomparableCtx{Context: uctx}, "b", 4, []byte("slow")), 5*time.Second, "timeout")
	if !errors.Is(res.err, context.DeadlineExceeded) {
		t.Fatalf("uncomparable context: err = %v, want DeadlineExceeded", res.err)
	}
	lctx, lcancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer lcancel()
	if res := recv(t, goCall(t, a.TCP, uncomparableCtx{Context: lctx}, "b", 4, []byte("quick")), 5*time.Second, "reply"); res.err != nil {
		t.Fatalf("uncomparable context: %v", res.err)
	}
	close(release) // a late reply, if any, goes nowhere

	// A canceled context ends the call at once.
	cctx, ccancel := context.WithCancel(t.Context())
	ccancel()
	if res := recv(t, goCall(t, a.TCP, cctx, "b", 4, []byte("x")), 5*time.Second, "canceled"); !errors.Is(res.err, context.Canceled) {
		t.Fatalf("err = %v, want Canceled", res.err)
	}
	// The connection still serves.
	if res := recv(t, goCall(t, a.TCP, t.Context(), "b", 4, []byte("after")), 5*time.Second, "reply"); res.err != nil {
		t.Fatal(res.err)
	}
}

// Every call gets exactly one done, whichever comes first: the reply, its
// deadline, or the connection's end.
func TestTCPGo_exactlyOnce(t *testing.T) {
	checkNoLeaks(t)
	h := HandlerFunc(func(ctx context.Context, _ string, _ uint8, body []byte) ([]byte, error) {
		d := time.Duration(body[0]%2) * 50 * time.Millisecond // odd calls are slow
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
		return body, nil
	})
	r := newResolver()
	a := startNode(t, r, "a", nil, nil)
	b := startNode(t, r, "b", h, nil)
	if res := recv(t, goCall(t, a.TCP, t.Context(), "b", 6, []byte{0}), 5*time.Second, "reply"); res.err != nil {
		t.Fatal(res.err)
	}
	const n = 200
	var oks, timeouts atomic.Int32
	run := func(phase string, during func(i int)) {
		var wg sync.WaitGroup
		var dones atomic.Int32
		for i := range n {
			// Even calls have time to spare, odd ones time out (mostly).
			timeout := 10 * time.Second
			if i%2 == 1 {
				timeout = time.Duration(1+i%10) * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			wg.Add(1)
			var once atomic.Int32
			a.Go(ctx, "b", 6, []byte{byte(i)}, func(body []byte, err error) {
				defer wg.Done()
				defer cancel()
				if once.Add(1) != 1 {
					t.Errorf("%s: call %d: done twice", phase, i)
				}
				dones.Add(1)
				switch {
				case err == nil:
					if len(body) != 1 || body[0] != byte(i) {
						t.Errorf("%s: call %d: body %v", phase, i, body)
					}
					oks.Add(1)
				case errors.Is(err, context.DeadlineExceeded):
					timeouts.Add(1)
				}
			})
			if during != nil {
				during(i)
			}
		}
		wg.Wait()
		if dones.Load() != n {
			t.Fatalf("%s: %d done calls for %d calls", phase, dones.Load(), n)
		}
	}
	run("replies and deadlines", nil)
	if oks.Load() == 0 || timeouts.Load() == 0 {
		t.Errorf("%d replies and %d timeouts: want some of each", oks.Load(), timeouts.Load())
	}
	run("peer closing", func(i int) {
		if i == n/2 {
			b.Close() // the calls in flight fail with the connection, the rest to dial
		}
	})
}

func TestTCPGo_closed(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	a := startNode(t, r, "a", nil, nil)
	bl := newBlocker(1)
	startNode(t, r, "b", bl, nil)
	inflight := goCall(t, a.TCP, t.Context(), "b", 1, nil)
	recv(t, bl.entered, 5*time.Second, "handler start")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if res := recv(t, inflight, 5*time.Second, "in-flight result"); !errors.Is(res.err, ErrClosed) {
		t.Errorf("in-flight err = %v, want ErrClosed", res.err)
	}
	if res := recv(t, goCall(t, a.TCP, t.Context(), "b", 1, nil), 5*time.Second, "result"); !errors.Is(res.err, ErrClosed) {
		t.Errorf("after Close: err = %v, want ErrClosed", res.err)
	}
	recv(t, bl.exited, 5*time.Second, "handler end")
}

// uncomparableCtx is a context whose dynamic type is not comparable.
type uncomparableCtx struct {
	context.Context
	_ []int
}
