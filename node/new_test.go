package node

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/transport"
)

// errInjected is what failingEngine's operations fail with.
var errInjected = errors.New("injected engine failure")

// failingEngine is a memory engine whose operations fail from the
// failFrom-th on (counting from 0; negative: never), and which counts its
// Close calls.
type failingEngine struct {
	storage.Engine
	failFrom int64
	ops      atomic.Int64
	closes   atomic.Int64
}

func newFailingEngine(failFrom int64) *failingEngine {
	return &failingEngine{Engine: storage.NewMemory(), failFrom: failFrom}
}

func (e *failingEngine) fail() error {
	if i := e.ops.Add(1) - 1; e.failFrom >= 0 && i >= e.failFrom {
		return errInjected
	}
	return nil
}

func (e *failingEngine) Get(key []byte) ([]byte, error) {
	if err := e.fail(); err != nil {
		return nil, err
	}
	return e.Engine.Get(key)
}

func (e *failingEngine) Put(key, value []byte, sync bool) error {
	if err := e.fail(); err != nil {
		return err
	}
	return e.Engine.Put(key, value, sync)
}

func (e *failingEngine) Delete(key []byte, sync bool) error {
	if err := e.fail(); err != nil {
		return err
	}
	return e.Engine.Delete(key, sync)
}

func (e *failingEngine) Write(b *storage.Batch, sync bool) error {
	if err := e.fail(); err != nil {
		return err
	}
	return e.Engine.Write(b, sync)
}

func (e *failingEngine) Scan(start, end []byte, fn func(key, value []byte) error) error {
	if err := e.fail(); err != nil {
		return err
	}
	return e.Engine.Scan(start, end, fn)
}

func (e *failingEngine) Close() error {
	e.closes.Add(1)
	return e.Engine.Close()
}

// closeCountingTransport is a transport with a Close the node must never
// call: the transport stays the caller's.
type closeCountingTransport struct {
	quorum.Transport
	closes atomic.Int64
}

func (t *closeCountingTransport) Close() error {
	t.closes.Add(1)
	return nil
}

// newParts returns parts over eng and counters of the closers' and the
// transport's Close calls.
func newParts(t *testing.T, eng storage.Engine, m Membership) (Parts, *closeCountingTransport, *[2]atomic.Int64) {
	t.Helper()
	net := transport.NewMemNetwork(1)
	t.Cleanup(func() { _ = net.Close() })
	ep := net.Join("n1", transport.HandlerFunc(func(context.Context, string, uint8, []byte) ([]byte, error) {
		return nil, errors.New("not serving")
	}))
	tr := &closeCountingTransport{Transport: ep}
	var closed [2]atomic.Int64
	return Parts{Engine: eng, Members: m, Transport: tr, Closers: []func() error{
		func() error { closed[0].Add(1); return nil },
		func() error { closed[1].Add(1); return nil },
	}}, tr, &closed
}

func newTestConfig() Config {
	cfg := DefaultConfig()
	cfg.Name = "n1"
	cfg.Ring.Partitions = 8
	return cfg
}

// TestNew_errorsBeforeParts: an error in the Config or the Parts is
// reported before any part is touched: the engine is not used, not closed.
func TestNew_errorsBeforeParts(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
		nil  func(*Parts)
		want string
	}{
		{name: "no name", cfg: func(c *Config) { c.Name = "" }, want: "Name must be set"},
		{name: "bad quorum config", cfg: func(c *Config) { c.Quorum.ReplicaTimeout = 0 }, want: "ReplicaTimeout"},
		{name: "bad anti-entropy config", cfg: func(c *Config) { c.AntiEntropy.Interval = 0 }, want: "Interval"},
		{name: "no members", nil: func(p *Parts) { p.Members = nil }, want: "Parts.Members"},
		{name: "no transport", nil: func(p *Parts) { p.Transport = nil }, want: "Parts.Transport"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eng := newFailingEngine(-1)
			parts, tr, closed := newParts(t, eng, NewStatic("n1"))
			cfg := newTestConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			if tc.nil != nil {
				tc.nil(&parts)
			}
			n, err := New(cfg, parts)
			if err == nil || n != nil {
				t.Fatalf("New = %v, %v; want no node and an error", n, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if ops, closes := eng.ops.Load(), eng.closes.Load(); ops != 0 || closes != 0 {
				t.Errorf("engine used %d times and closed %d times; want untouched", ops, closes)
			}
			if c0, c1, tc := closed[0].Load(), closed[1].Load(), tr.closes.Load(); c0+c1+tc != 0 {
				t.Errorf("closers ran %d, %d times, transport closed %d times; want never", c0, c1, tc)
			}
		})
	}
	t.Run("no engine", func(t *testing.T) {
		parts, _, _ := newParts(t, nil, NewStatic("n1"))
		if _, err := New(newTestConfig(), parts); err == nil || !strings.Contains(err.Error(), "Parts.Engine") {
			t.Fatalf("New with no engine: %v; want an error naming Parts.Engine", err)
		}
	})
}

// TestNew_closesEngineOnceOnFailure makes New fail at each step that can
// fail once the engine is New's: the store (its engine scans), the first
// view (a member name no ring takes), the coordinator (its actor lease)
// and the transfer manager (its saved state), the last three by failing
// every engine operation from the i-th on, for i = 0, 1, ... until New
// succeeds. Each failure closes the engine exactly once and never runs a
// Closer or closes the transport; the node New finally returns closes
// them all exactly once, however often Close is called.
func TestNew_closesEngineOnceOnFailure(t *testing.T) {
	check := func(t *testing.T, eng *failingEngine, tr *closeCountingTransport, closed *[2]atomic.Int64, wantClosers int64) {
		t.Helper()
		if got := eng.closes.Load(); got != 1 {
			t.Errorf("engine closed %d times; want 1", got)
		}
		if c0, c1 := closed[0].Load(), closed[1].Load(); c0 != wantClosers || c1 != wantClosers {
			t.Errorf("closers ran %d, %d times; want %d each", c0, c1, wantClosers)
		}
		if got := tr.closes.Load(); got != 0 {
			t.Errorf("transport closed %d times by the node; it is the caller's", got)
		}
	}

	t.Run("view", func(t *testing.T) {
		eng := newFailingEngine(-1)
		parts, tr, closed := newParts(t, eng, NewStatic("n1", ""))
		if n, err := New(newTestConfig(), parts); err == nil || n != nil {
			t.Fatalf("New with a member named \"\" = %v, %v; want an error", n, err)
		}
		check(t, eng, tr, closed, 0)
	})

	steps := map[string]bool{}
	stepOf := func(err error) string {
		for _, s := range []string{"storage:", "quorum:", "transfer:"} {
			if strings.HasPrefix(err.Error(), s) {
				return s
			}
		}
		return ""
	}
	for i := int64(0); ; i++ {
		if i == 200 {
			t.Fatal("New still fails with the engine failing from its 200th operation")
		}
		eng := newFailingEngine(i)
		parts, tr, closed := newParts(t, eng, NewStatic("n1"))
		n, err := New(newTestConfig(), parts)
		if err != nil {
			if n != nil {
				t.Fatalf("fail from op %d: New returned a node and %v", i, err)
			}
			if !errors.Is(err, errInjected) {
				t.Fatalf("fail from op %d: New failed with %v, not the injected error", i, err)
			}
			step := stepOf(err)
			if step == "" {
				t.Fatalf("fail from op %d: %v: at no known step", i, err)
			}
			steps[step] = true
			t.Logf("fail from op %d: %s step: %v", i, step, err)
			check(t, eng, tr, closed, 0)
			continue
		}
		if c0, c1 := closed[0].Load(), closed[1].Load(); c0+c1+eng.closes.Load() != 0 {
			t.Fatalf("New succeeded but closed the engine or ran a closer")
		}
		_ = n.Close() // later operations fail: Close's error is not the point
		_ = n.Close()
		check(t, eng, tr, closed, 1)
		break
	}
	for _, s := range []string{"storage:", "quorum:", "transfer:"} {
		if !steps[s] {
			t.Errorf("no run failed at the %q step; seen %v", s, steps)
		}
	}
}
