package transport

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// checkNoLeaks fails the test if, once its other cleanups have run (Close
// of the transports it started), goroutines running this package's code
// remain. Call it first in a test so its cleanup runs last.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			leaked := packageGoroutines()
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(5 * time.Millisecond) // polling, bounded by the deadline
		}
	})
}

// packageGoroutines returns the stacks of the goroutines, other than the
// calling one, that run code of this package.
func packageGoroutines() []string {
	buf := make([]byte, 1<<20)
	for range 8 {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i > 0 && strings.Contains(g, "dynamod/transport.") {
			out = append(out, g)
		}
	}
	return out
}

// eventually polls cond every few milliseconds until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond) // polling, bounded by the deadline
	}
}

// recv waits for a value on ch for at most d.
func recv[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("timed out after %v waiting for %s", d, what)
		panic("unreachable")
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// resolver is a name → address table for test nodes.
type resolver struct {
	mu    sync.Mutex
	addrs map[string]string
}

func newResolver() *resolver { return &resolver{addrs: make(map[string]string)} }

func (r *resolver) set(name, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addrs[name] = addr
}

func (r *resolver) resolve(name string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.addrs[name]
	return a, ok
}

// testNode is one TCP transport started by a test.
type testNode struct {
	*TCP
	reg *prometheus.Registry
}

// startNode starts a transport on 127.0.0.1 named name, registers it in r
// and closes it when the test ends.
func startNode(t *testing.T, r *resolver, name string, h Handler, mod func(*Config)) testNode {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := DefaultLocalConfig()
	cfg.Name = name
	cfg.Resolve = r.resolve
	cfg.Logger = testLogger(t).With("test_node", name)
	cfg.Registry = reg
	if mod != nil {
		mod(&cfg)
	}
	tr, err := Listen(cfg, h)
	if err != nil {
		t.Fatalf("Listen(%s): %v", name, err)
	}
	t.Cleanup(func() { tr.Close() })
	if tr.Addr() != "" {
		r.set(name, tr.Addr())
	}
	return testNode{TCP: tr, reg: reg}
}

// metric returns the value of a counter or gauge with the given labels, 0
// if it does not exist.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !labelsMatch(m, want) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, lp := range m.GetLabel() {
		if v, ok := want[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// echo answers "from:kind:" + body; kind 99 fails with "boom".
func echo(_ context.Context, from string, kind uint8, body []byte) ([]byte, error) {
	if kind == 99 {
		return nil, fmt.Errorf("boom")
	}
	return append(fmt.Appendf(nil, "%s:%d:", from, kind), body...), nil
}

// drained reports whether s holds nothing and nobody waits or leads.
func (s *shared) drained() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used == 0 && s.large == 0 && s.growing == 0 && s.leader == nil && len(s.smallQ) == 0 && len(s.largeQ) == 0
}
