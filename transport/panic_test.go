package transport

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// panicky panics on kind 66 (as a handler that indexes past a slice on a
// bad value would) and echoes otherwise.
func panicky(ctx context.Context, from string, kind uint8, body []byte) ([]byte, error) {
	if kind == 66 {
		var s []int
		_ = s[len(body)] // index out of range
	}
	return echo(ctx, from, kind, body)
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTCP_handlerPanic: a handler's panic is recovered, logged with the
// request's identity, counted, and answered to the caller as an error;
// the node keeps serving.
func TestTCP_handlerPanic(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	var logs syncBuffer
	srv := startNode(t, r, "srv", HandlerFunc(panicky), func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	a := startNode(t, r, "a", nil, nil)
	ctx := t.Context()
	for _, caller := range []testNode{a, srv} { // over the network, then to itself
		_, err := caller.Call(ctx, "srv", 66, []byte("bad"))
		var re *RemoteError
		if !errors.As(err, &re) || !strings.Contains(re.Msg, "panic") {
			t.Fatalf("call from %s: err = %v, want a RemoteError about the panic", caller.cfg.Name, err)
		}
		if got, err := caller.Call(ctx, "srv", 1, []byte("ok")); err != nil || string(got) != caller.cfg.Name+":1:ok" {
			t.Fatalf("call after the panic: %q, %v", got, err)
		}
	}
	if n := metric(t, srv.reg, "dynamod_transport_handler_panics_total"); n != 2 {
		t.Errorf("panics counted = %v, want 2", n)
	}
	if n := metric(t, srv.reg, "dynamod_transport_served_total", "kind", "66", "result", "error"); n != 1 {
		t.Errorf("served kind 66 with an error = %v, want 1", n)
	}
	out := logs.String()
	for _, want := range []string{"handler panicked", "peer=a", "kind=66", "request_id=1", "index out of range", "panic_test.go"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// TestMem_handlerPanic: the memory network recovers a handler's panic the
// same way: the caller gets an error, the panic is counted in Stats and
// logged, and the network keeps working.
func TestMem_handlerPanic(t *testing.T) {
	checkNoLeaks(t)
	n := newMemTest(t, 1)
	var logs syncBuffer
	n.SetLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	a := n.Join("a", HandlerFunc(echo))
	n.Join("b", HandlerFunc(panicky))
	ctx := t.Context()
	_, err := a.Call(ctx, "b", 66, []byte("bad"))
	var re *RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "panic") {
		t.Fatalf("err = %v, want a RemoteError about the panic", err)
	}
	if got, err := a.Call(ctx, "b", 1, []byte("ok")); err != nil || string(got) != "a:1:ok" {
		t.Fatalf("call after the panic: %q, %v", got, err)
	}
	if got := n.Stats()["request.66.panicked"]; got != 1 {
		t.Errorf("Stats()[request.66.panicked] = %d, want 1", got)
	}
	out := logs.String()
	for _, want := range []string{"handler panicked", "peer=a", "node=b", "kind=66", "request_id=", "index out of range"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}
