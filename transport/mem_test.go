package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func newMemTest(t *testing.T, seed uint64) *MemNetwork {
	t.Helper()
	n := NewMemNetwork(seed)
	n.SetLogLimit(1000)
	t.Cleanup(func() {
		n.Close()
		if t.Failed() {
			for _, e := range n.Log() {
				t.Log(e)
			}
		}
	})
	return n
}

func TestMem_roundTrip(t *testing.T) {
	checkNoLeaks(t)
	n := newMemTest(t, 1)
	a := n.Join("a", HandlerFunc(echo))
	n.Join("b", HandlerFunc(echo))
	ctx := t.Context()

	got, err := a.Call(ctx, "b", 7, []byte("hi"))
	if err != nil || string(got) != "a:7:hi" {
		t.Fatalf("call: %q, %v", got, err)
	}
	_, err = a.Call(ctx, "b", 99, nil)
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "boom" {
		t.Fatalf("handler error: %v", err)
	}
	if _, err := a.Call(ctx, "nobody", 1, nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("unknown node: %v", err)
	}
	if got, err := a.Call(ctx, "a", 1, []byte("me")); err != nil || string(got) != "a:1:me" {
		t.Fatalf("call to itself: %q, %v", got, err)
	}
	if a.Name() != "a" {
		t.Errorf("Name() = %q", a.Name())
	}
}

// TestMem_copies checks that no bytes are shared between caller and handler,
// and that a handler keeping the request body sees it destroyed.
func TestMem_copies(t *testing.T) {
	checkNoLeaks(t)
	n := newMemTest(t, 1)
	kept := make(chan []byte, 1)
	var stored []byte
	n.Join("b", HandlerFunc(func(_ context.Context, _ string, _ uint8, body []byte) ([]byte, error) {
		body[0] = 'X' // a handler may scribble on its own copy
		stored = []byte("state")
		kept <- body
		return stored, nil
	}))
	a := n.Join("a", nil)
	body := []byte("request")
	got, err := a.Call(t.Context(), "b", 1, body)
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != "request" {
		t.Errorf("caller's body changed to %q", body)
	}
	got[0] = 'Z'
	if string(stored) != "state" {
		t.Errorf("handler's state changed to %q through the response", stored)
	}
	if k := <-kept; !bytes.Equal(k, bytes.Repeat([]byte{0xdb}, len(body))) {
		t.Errorf("a body kept after Serve still reads %q; want it overwritten", k)
	}
}

func TestMem_partition(t *testing.T) {
	checkNoLeaks(t)
	n := newMemTest(t, 1)
	eps := map[string]*MemEndpoint{}
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		eps[name] = n.Join(name, HandlerFunc(echo))
	}
	ctx := t.Context()
	reach := func(from, to string) bool {
		_, err := eps[from].Call(ctx, to, 1, nil)
		if err != nil && !errors.Is(err, ErrUnreachable) {
			t.Fatalf("%s->%s: %v", from, to, err)
		}
		return err == nil
	}
	n.Partition([]string{"a", "b"}, []string{"c"}) // d and e: the unnamed group
	for _, tc := range []struct {
		from, to string
		want     bool
	}{
		{"a", "b", true}, {"b", "a", true}, {"a", "c", false}, {"c", "a", false},
		{"d", "e", true}, {"d", "a", false}, {"c", "e", false}, {"c", "c", true},
	} {
		if got := reach(tc.from, tc.to); got != tc.want {
			t.Errorf("partitioned: %s->%s reachable = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
	// A node joining later belongs to the unnamed group.
	eps["f"] = n.Join("f", HandlerFunc(echo))
	if !reach("f", "d") || reach("f", "a") {
		t.Error("late joiner not in the unnamed group")
	}
	n.Heal()
	for _, from := range []string{"a", "c", "d"} {
		for _, to := range []string{"a", "b", "c", "e", "f"} {
			if !reach(from, to) {
				t.Errorf("healed: %s->%s unreachable", from, to)
			}
		}
	}
}

func TestMem_partitionFailsInflight(t *testing.T) {
	checkNoLeaks(t)
	n := newMemTest(t, 1)
	bl := newBlocker(1)
	n.Join("b", bl)
	a := n.Join("a", nil)
	res := make(chan error, 1)
	go func() {
		_, err := a.Call(context.Background(), "b", 1, nil)
		res <- err
	}()
	recv(t, bl.entered, 5*time.Second, "handler start")
	n.Partition([]string{"a"}, []string{"b"})
	if err := recv(t, res, 5*time.Second, "call result"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
}

// dropSchedule makes count sequential calls a->b over a one-way lossy link
// and returns which were dropped, in order.
func dropSchedule(t *testing.T, seed uint64, count int) []bool {
	t.Helper()
	n := newMemTest(t, seed)
	n.Join("b", HandlerFunc(echo))
	a := n.Join("a", nil)
	n.SetLinkOneWay("a", "b", Link{Drop: 0.5})
	var dropped []bool
	// A delivered call returns fast; a dropped one waits out its timeout.
	// Either way the request's draw happened inside Call, before it blocked,
	// so the draws are in call order. A call whose ctx expired before it
	// started sends nothing and draws nothing: call until count were sent.
	for i := 0; n.Stats()["request.1"] < count; i++ {
		if i == 10*count {
			t.Fatalf("only %d of %d calls sent", n.Stats()["request.1"], i)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
		_, err := a.Call(ctx, "b", 1, []byte{byte(i)})
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	for _, e := range n.Log() {
		if !e.Response && e.From == "a" {
			dropped = append(dropped, e.Fate == "dropped")
		}
	}
	if len(dropped) != count {
		t.Fatalf("logged %d requests, want %d", len(dropped), count)
	}
	return dropped
}

func TestMem_dropsReproducible(t *testing.T) {
	checkNoLeaks(t)
	const count = 100
	first := dropSchedule(t, 7, count)
	again := dropSchedule(t, 7, count)
	other := dropSchedule(t, 8, count)
	if !slices.Equal(first, again) {
		t.Errorf("seed 7 gave two drop schedules:\n%v\n%v", first, again)
	}
	if slices.Equal(first, other) {
		t.Errorf("seeds 7 and 8 gave the same drop schedule %v", first)
	}
	drops := 0
	for _, d := range first {
		if d {
			drops++
		}
	}
	if drops < count/4 || drops > 3*count/4 {
		t.Errorf("%d of %d dropped at Drop 0.5", drops, count)
	}
}

func TestMem_delay(t *testing.T) {
	checkNoLeaks(t)
	n := newMemTest(t, 1)
	n.Join("b", HandlerFunc(echo))
	a := n.Join("a", nil)
	n.SetLink("a", "b", Link{Delay: 30 * time.Millisecond, Jitter: 10 * time.Millisecond})
	start := time.Now()
	if _, err := a.Call(t.Context(), "b", 1, nil); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 60*time.Millisecond {
		t.Errorf("round trip took %v, want at least 2 × 30ms", el)
	}
	// A delay past the deadline is a timeout.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := a.Call(ctx, "b", 1, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
	n.Heal()
	ctx2, cancel2 := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel2()
	if _, err := a.Call(ctx2, "b", 1, nil); err != nil {
		t.Errorf("after Heal: %v", err)
	}
}

func TestMem_hooks(t *testing.T) {
	checkNoLeaks(t)
	n := newMemTest(t, 1)
	n.Join("b", HandlerFunc(echo))
	a := n.Join("a", nil)
	var (
		mu   sync.Mutex
		seen []string
	)
	n.Hook(func(m *Msg) bool {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s->%s %d %v", m.From, m.To, m.Kind, m.Response))
		mu.Unlock()
		switch {
		case m.Kind == 2 && !m.Response:
			return false // veto requests of kind 2
		case m.Kind == 3 && m.Response:
			return false // veto responses of kind 3
		case m.Kind == 4 && !m.Response:
			m.Body = []byte("rewritten")
		case m.Kind == 5 && m.Response:
			m.Body = bytes.ToUpper(m.Body)
		}
		return true
	})
	ctx := t.Context()
	call := func(kind uint8) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		got, err := a.Call(ctx, "b", kind, []byte("body"))
		return string(got), err
	}
	if got, err := call(1); err != nil || got != "a:1:body" {
		t.Errorf("kind 1: %q, %v", got, err)
	}
	for _, k := range []uint8{2, 3} {
		if _, err := call(k); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("kind %d vetoed: err = %v, want DeadlineExceeded", k, err)
		}
	}
	if got, err := call(4); err != nil || got != "a:4:rewritten" {
		t.Errorf("kind 4 request rewritten: %q, %v", got, err)
	}
	if got, err := call(5); err != nil || got != "A:5:BODY" {
		t.Errorf("kind 5 response rewritten: %q, %v", got, err)
	}
	eventually(t, 5*time.Second, "the vetoed response's hook call", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 9 // 5 requests, 4 responses (kind 2 never served)
	})
	st := n.Stats()
	for key, want := range map[string]int{
		"request.1":            1,
		"request.1.delivered":  1,
		"response.1.delivered": 1,
		"request.2.vetoed":     1,
		"request.2.delivered":  0,
		"request.3.delivered":  1,
		"response.3.vetoed":    1,
		"response.5.delivered": 1,
	} {
		if st[key] != want {
			t.Errorf("Stats()[%q] = %d, want %d (all: %v)", key, st[key], want, st)
		}
	}
}

func TestMem_crashRestart(t *testing.T) {
	checkNoLeaks(t)
	n := newMemTest(t, 1)
	bl := newBlocker(1)
	oldB := n.Join("b", bl)
	a := n.Join("a", HandlerFunc(echo))
	res := make(chan error, 1)
	go func() {
		_, err := a.Call(context.Background(), "b", 1, nil)
		res <- err
	}()
	recv(t, bl.entered, 5*time.Second, "handler start")
	n.Crash("b")
	if err := recv(t, res, 5*time.Second, "call result"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("in-flight call to crashed node: err = %v, want ErrUnreachable", err)
	}
	if err := recv(t, bl.exited, 5*time.Second, "handler end"); !errors.Is(err, context.Canceled) {
		t.Errorf("crashed node's handler ctx: %v, want Canceled", err)
	}
	ctx := t.Context()
	if _, err := a.Call(ctx, "b", 1, nil); !errors.Is(err, ErrUnreachable) {
		t.Errorf("call to crashed node: %v", err)
	}
	if _, err := oldB.Call(ctx, "a", 1, nil); !errors.Is(err, ErrUnreachable) {
		t.Errorf("call from crashed node: %v", err)
	}

	newB := n.Join("b", HandlerFunc(echo))
	if got, err := a.Call(ctx, "b", 1, []byte("x")); err != nil || string(got) != "a:1:x" {
		t.Errorf("call to restarted node: %q, %v", got, err)
	}
	if got, err := newB.Call(ctx, "a", 1, []byte("y")); err != nil || string(got) != "b:1:y" {
		t.Errorf("call from restarted node: %q, %v", got, err)
	}
	if _, err := oldB.Call(ctx, "a", 1, nil); !errors.Is(err, ErrUnreachable) {
		t.Errorf("old endpoint after restart: %v", err)
	}
}

// TestMem_crashedCallerDelivered: a request a node sent before it crashed
// still reaches a live callee after the link's delay (its caller has
// already failed), and Drain returns only once it has.
func TestMem_crashedCallerDelivered(t *testing.T) {
	checkNoLeaks(t)
	n := newMemTest(t, 1)
	var mu sync.Mutex
	var got []string
	a := n.Join("a", HandlerFunc(echo))
	n.Join("b", HandlerFunc(func(ctx context.Context, from string, kind uint8, body []byte) ([]byte, error) {
		mu.Lock()
		got = append(got, string(body))
		mu.Unlock()
		return nil, nil
	}))
	n.SetLink("a", "b", Link{Delay: 50 * time.Millisecond})
	res := make(chan error, 1)
	go func() {
		_, err := a.Call(context.Background(), "b", 1, []byte("before the crash"))
		res <- err
	}()
	eventually(t, 5*time.Second, "the request on its way", func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return len(n.delivering) == 1
	})
	n.Crash("a")
	if err := recv(t, res, 5*time.Second, "call result"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("crashed caller: %v, want ErrUnreachable", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := n.Drain(ctx); err != nil {
		t.Fatalf("drain: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, []string{"before the crash"}) {
		t.Fatalf("after Drain the callee got %q, want the crashed node's request", got)
	}
}

func TestMem_close(t *testing.T) {
	checkNoLeaks(t)
	n := NewMemNetwork(1)
	const calls = 10
	bl := newBlocker(calls)
	n.Join("b", bl)
	a := n.Join("a", nil)
	n.SetLink("a", "c", Link{Delay: time.Hour})
	n.Join("c", HandlerFunc(echo))
	res := make(chan error, calls+1)
	for range calls {
		go func() {
			_, err := a.Call(context.Background(), "b", 1, nil)
			res <- err
		}()
	}
	go func() {
		_, err := a.Call(context.Background(), "c", 1, nil) // stuck in a delay
		res <- err
	}()
	for range calls {
		recv(t, bl.entered, 5*time.Second, "handler start")
	}
	eventually(t, 5*time.Second, "delayed request sent", func() bool {
		return n.Stats()["request.1"] == calls+1
	})
	n.Close()
	for range calls + 1 {
		if err := recv(t, res, 5*time.Second, "call result"); !errors.Is(err, ErrClosed) {
			t.Errorf("in-flight call: err = %v, want ErrClosed", err)
		}
	}
	if len(bl.exited) != calls {
		t.Errorf("%d of %d handlers returned before Close did", len(bl.exited), calls)
	}
	if _, err := a.Call(t.Context(), "b", 1, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("call after Close: %v", err)
	}
	n.Close()
}

func TestMem_log(t *testing.T) {
	n := newMemTest(t, 1)
	n.SetLogLimit(3)
	n.Join("b", HandlerFunc(echo))
	a := n.Join("a", nil)
	for i := range 5 {
		if _, err := a.Call(t.Context(), "b", uint8(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	log := n.Log()
	if len(log) != 3 {
		t.Fatalf("log holds %d entries, want the last 3", len(log))
	}
	last := log[2]
	if last.Kind != 4 || !last.Response || last.From != "b" || !strings.Contains(last.String(), "b->a response kind=4") {
		t.Errorf("last entry %v, want the response of kind 4", last)
	}
	if log[1].Kind != 4 || log[1].Response || log[0].Kind != 3 {
		t.Errorf("log not in order: %v", log)
	}
}
