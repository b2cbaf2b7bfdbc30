package gossip

import (
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// testLogger logs to the test's output, shown only on failure or -v.
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{w: t.Output()}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// testWriter passes writes to a test's output until the test ends, then
// drops them: memberlist's suspicion timers are not stopped by Shutdown
// and may log a member's failure after the test has returned, which
// t.Output would turn into a panic.
type testWriter struct {
	mu   sync.Mutex
	w    io.Writer
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return len(p), nil
	}
	return w.w.Write(p)
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// fastTimings shortens memberlist's local profile further so failure
// detection takes about a second, not several.
func fastTimings(mc *memberlist.Config) {
	mc.ProbeInterval = 250 * time.Millisecond
	mc.ProbeTimeout = 150 * time.Millisecond
	mc.SuspicionMaxTimeoutMult = 2
	mc.GossipInterval = 50 * time.Millisecond
	mc.TCPTimeout = 500 * time.Millisecond
}

// cluster is a set of real Gossip nodes on 127.0.0.1 behind a faultNet.
type cluster struct {
	t     *testing.T
	dir   string // for state files; removed after the nodes are closed
	net   *faultNet
	nodes map[string]*Gossip
	regs  map[string]*prometheus.Registry
	// tune adjusts memberlist for every node started after it is set.
	tune func(*memberlist.Config)
}

// newCluster returns an empty cluster that checks, when the test ends, that
// every node was closed and no goroutine of gossip or memberlist is left.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	checkNoLeaks(t) // registered first, so it runs after every Close
	c := &cluster{t: t, dir: t.TempDir(), net: newFaultNet(), nodes: map[string]*Gossip{}, regs: map[string]*prometheus.Registry{}, tune: fastTimings}
	t.Cleanup(func() {
		for _, g := range c.nodes {
			if err := g.Close(); err != nil {
				t.Errorf("close %s: %v", g.LocalName(), err)
			}
		}
	})
	return c
}

// config returns a Config for a node named name on a fresh faultNet
// transport; edit it and pass it to start.
func (c *cluster) config(name string) Config {
	cfg := c.baseConfig(name)
	tr, addr := c.net.transport(c.t, name, log.New(logBridge{log: cfg.Logger}, "", 0))
	cfg.Transport = tr
	cfg.BindAddr = addr
	return cfg
}

// baseConfig is config without a transport or bind address.
func (c *cluster) baseConfig(name string) Config {
	cfg := DefaultConfig()
	cfg.Name = name
	cfg.Profile = ProfileLocal
	cfg.RejoinInterval = 300 * time.Millisecond
	cfg.DeadNodeReclaimTime = 100 * time.Millisecond
	cfg.Logger = testLogger(c.t).With("test_node", name)
	reg := prometheus.NewRegistry()
	cfg.Registry = reg
	c.regs[name] = reg
	cfg.tune = c.tune
	cfg.RPCAddr = "127.0.0.1:" + fmt.Sprint(20000+len(c.regs))
	cfg.HTTPAddr = "127.0.0.1:" + fmt.Sprint(30000+len(c.regs))
	return cfg
}

// start starts a node; a node of the same name must have been closed.
func (c *cluster) start(cfg Config) *Gossip {
	c.t.Helper()
	g, err := New(cfg)
	if err != nil {
		c.t.Fatalf("start %s: %v", cfg.Name, err)
	}
	settleNode(c.t, g)
	c.nodes[cfg.Name] = g
	return g
}

// settleNode does what the node does once it holds its partitions: it makes a
// Joining member Joined (nodes start Joining).
func settleNode(t testing.TB, g *Gossip) {
	t.Helper()
	if err := g.Settle([]string{g.LocalName()}, ""); err != nil && !errors.Is(err, ErrRemoved) {
		t.Fatalf("settle %s: %v", g.LocalName(), err)
	}
}

// startDefault starts a node on memberlist's own NetTransport (created by
// New) at a free port, retrying on a bind conflict.
func (c *cluster) startDefault(cfg Config) *Gossip {
	c.t.Helper()
	for range 20 {
		cfg.BindAddr = fmt.Sprintf("127.0.0.1:%d", freePort(c.t))
		g, err := New(cfg)
		if err != nil && strings.Contains(err.Error(), "address already in use") {
			continue
		}
		if err != nil {
			c.t.Fatalf("start %s: %v", cfg.Name, err)
		}
		settleNode(c.t, g)
		c.nodes[cfg.Name] = g
		return g
	}
	c.t.Fatalf("start %s: no free port", cfg.Name)
	return nil
}

// startN starts nodes with the given names, each joining the first.
func (c *cluster) startN(names ...string) []*Gossip {
	c.t.Helper()
	var out []*Gossip
	for i, name := range names {
		cfg := c.config(name)
		if i > 0 {
			cfg.Join = []string{gossipAddr(out[0])}
		}
		cfg.StatePath = filepath.Join(c.dir, name+".state")
		g := c.start(cfg)
		// The first node has the new one's settle (its Joined entry)
		// before the next joins it: tests that turn push-pull off would
		// otherwise leave the next node with the Joining entry it got by
		// its join's push-pull.
		if i > 0 {
			waitFor(c.t, settle, name+" joined on "+names[0], func() error {
				for _, m := range out[0].Members() {
					if m.Name == name && m.Status == Joined {
						return nil
					}
				}
				return fmt.Errorf("%s does not see %s joined yet", names[0], name)
			})
		}
		out = append(out, g)
	}
	return out
}

// gossipAddr returns the address g advertises in the cluster state.
func gossipAddr(g *Gossip) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.self.Gossip
}

// crash closes a node without leaving.
func (c *cluster) crash(name string) {
	c.t.Helper()
	if err := c.nodes[name].Close(); err != nil {
		c.t.Fatalf("close %s: %v", name, err)
	}
}

// waitFor polls cond until it returns nil or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v: %v", what, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// memberView is a compact, comparable rendering of Members for messages.
func memberView(g *Gossip) string {
	var parts []string
	for _, m := range g.Members() {
		if m.Status.Gone() {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s:%s:%s", m.Name, m.Status, m.Liveness))
	}
	return strings.Join(parts, " ")
}

// seesAlive checks that g sees exactly names as Joined members, all alive.
func seesAlive(g *Gossip, names ...string) error {
	var want []string
	for _, n := range names {
		want = append(want, n+":joined:alive")
	}
	if got := memberView(g); got != strings.Join(want, " ") {
		return fmt.Errorf("%s sees %q, want %q", g.LocalName(), got, strings.Join(want, " "))
	}
	return nil
}

// allSee runs check on every given node.
func allSee(check func(g *Gossip) error, gs ...*Gossip) func() error {
	return func() error {
		var errs []error
		for _, g := range gs {
			if err := check(g); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
}

// checkNoLeaks fails the test if, once its cleanups have run, goroutines of
// this package or of memberlist are still running. memberlist stops some of
// its goroutines asynchronously after Shutdown, so it polls.
func checkNoLeaks(t *testing.T) {
	t.Cleanup(func() {
		var leaked []string
		deadline := time.Now().Add(5 * time.Second)
		for {
			leaked = leakedGoroutines()
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("%d goroutines leaked, e.g.:\n%s", len(leaked), leaked[0])
	})
}

func leakedGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 {
			continue // this goroutine
		}
		if strings.Contains(g, "hashicorp/memberlist.") || strings.Contains(g, "dynamod/gossip.(*") {
			out = append(out, g)
		}
	}
	return slices.Clip(out)
}

// value reads a counter or gauge (prometheus' testutil needs a module this
// repository does not carry).
func value(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatalf("read metric: %v", err)
	}
	if c := pb.GetCounter(); c != nil {
		return c.GetValue()
	}
	return pb.GetGauge().GetValue()
}
