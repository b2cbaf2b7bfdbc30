package antientropy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/transport"
	"github.com/dynamod/dynamod/versioning"
)

// replica is one node's store with a Local over it that reports every
// change to its AntiEntropy the way the quorum coordinator does: under the
// key's lock, after persisting.
type replica struct {
	name  string
	store *storage.Store
	ae    atomic.Pointer[AntiEntropy]
	reg   *prometheus.Registry
	// locks are the key write locks, striped by hash.
	locks [64]sync.Mutex
}

var (
	_ Local  = (*replica)(nil)
	_ Fencer = (*replica)(nil)
)

func (r *replica) lock(k storage.Key) func() {
	m := &r.locks[k.Hash%uint64(len(r.locks))]
	m.Lock()
	return m.Unlock
}

func (r *replica) ScanLocal(lo, hi uint64, fn func(k storage.Key, c versioning.Clock) error) error {
	return r.store.Scan(lo, hi, fn)
}

func (r *replica) ReadLocal(k storage.Key) (versioning.Clock, bool, error) {
	c, err := r.store.Get(k)
	switch {
	case err == nil:
		return c, true, nil
	case errors.Is(err, storage.ErrNotFound):
		return versioning.Clock{}, false, nil
	}
	return versioning.Clock{}, false, err
}

func (r *replica) MergeLocal(k storage.Key, c versioning.Clock) error {
	return r.apply(k, func(cur versioning.Clock, found bool) versioning.Clock {
		if !found {
			return c
		}
		return versioning.Sync(cur, c)
	})
}

func (r *replica) ReapLocal(k storage.Key, d uint64) (bool, error) {
	unlock := r.lock(k)
	defer unlock()
	cur, found, err := r.ReadLocal(k)
	if err != nil || !found || versioning.Digest(cur) != d {
		return false, err
	}
	if err := r.store.Delete(k, false); err != nil {
		return false, err
	}
	r.changed(k, cur, versioning.Clock{})
	return true, nil
}

func (r *replica) FenceLocal() {
	for i := range r.locks {
		r.locks[i].Lock()
		//lint:ignore SA2001 waiting for the holder is the point
		r.locks[i].Unlock()
	}
}

func (r *replica) changed(k storage.Key, old, new versioning.Clock) {
	if ae := r.ae.Load(); ae != nil {
		ae.OnChange(k, old, new)
	}
}

// apply replaces k's state by f(current) under the key's lock; a zero
// result deletes k. Like the coordinator, it writes and reports nothing
// when the state does not change.
func (r *replica) apply(k storage.Key, f func(cur versioning.Clock, found bool) versioning.Clock) error {
	unlock := r.lock(k)
	defer unlock()
	cur, found, err := r.ReadLocal(k)
	if err != nil {
		return err
	}
	next := f(cur, found)
	if found && versioning.Equal(cur, next) {
		return nil
	}
	if len(next.Entries) == 0 && len(next.Anon) == 0 {
		if !found {
			return nil
		}
		if err := r.store.Delete(k, false); err != nil {
			return err
		}
	} else if err := r.store.Put(k, next, false); err != nil {
		return err
	}
	r.changed(k, cur, next)
	return nil
}

// write is a client write coordinated by this replica with actor: with
// the key's current context (seen = true) or none (a blind write, which
// becomes a sibling of what is there).
func (r *replica) write(t tb, k storage.Key, v versioning.Value, actor versioning.ActorID, seen bool) {
	t.Helper()
	err := r.apply(k, func(cur versioning.Clock, _ bool) versioning.Clock {
		var ctx versioning.Context
		if seen {
			ctx = versioning.Join(cur)
		}
		return versioning.Update(versioning.New(ctx, v), cur, actor)
	})
	if err != nil {
		t.Fatalf("write %s on %s: %v", k, r.name, err)
	}
}

// set stores c as k's state on this replica (a zero c deletes k).
func (r *replica) set(t tb, k storage.Key, c versioning.Clock) {
	t.Helper()
	if err := r.apply(k, func(versioning.Clock, bool) versioning.Clock { return c }); err != nil {
		t.Fatalf("set %s on %s: %v", k, r.name, err)
	}
}

func (r *replica) get(t tb, k storage.Key) (versioning.Clock, bool) {
	t.Helper()
	c, found, err := r.ReadLocal(k)
	if err != nil {
		t.Fatalf("get %s on %s: %v", k, r.name, err)
	}
	return c, found
}

func (r *replica) dump(t tb) map[storage.Key]versioning.Clock {
	t.Helper()
	out := make(map[storage.Key]versioning.Clock)
	err := r.store.Scan(0, ^uint64(0), func(k storage.Key, c versioning.Clock) error {
		out[k] = c
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", r.name, err)
	}
	return out
}

// tb is the part of testing.TB the replica helpers use, so writer
// goroutines can pass a goTB.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// goTB reports failures of a goroutine other than the test's: it marks the
// test failed and ends the goroutine.
type goTB struct{ t testing.TB }

func (g goTB) Helper() {}
func (g goTB) Fatal(args ...any) {
	g.t.Error(args...)
	runtime.Goexit()
}
func (g goTB) Fatalf(format string, args ...any) {
	g.t.Errorf(format, args...)
	runtime.Goexit()
}

// gauge returns the value of the metric name with the given label pairs
// in reg (0 if absent).
func gauge(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func counter(t testing.TB, r *replica, name string, labels ...string) float64 {
	t.Helper()
	return gauge(t, r.reg, name, labels...)
}

func key(bucket, k string) storage.Key {
	return storage.Key{Hash: ring.Hash(bucket, k), Bucket: bucket, Key: k}
}

func keyN(i int) storage.Key { return key("b", fmt.Sprintf("k%07d", i)) }

// members is a static membership with switchable liveness.
type members struct {
	r *ring.Ring
	// mu guards down.
	mu   sync.Mutex
	down map[string]bool
}

func (m *members) Ring() *ring.Ring { return m.r }

func (m *members) Alive(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.down[name]
}

func (m *members) setDown(name string, down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down[name] = down
}

// clock is an injected wall clock.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// cluster is N replicas over a MemNetwork with static membership.
type cluster struct {
	t       testing.TB
	net     *transport.MemNetwork
	members *members
	clock   *clock
	cfg     Config
	names   []string
	reps    map[string]*replica
	// wrap, if set, wraps each replica's Local before New.
	wrap func(*replica) Local
}

type clusterOpts struct {
	nodes, partitions int
	nval              int
	cfg               func(*Config)
	wrap              func(*replica) Local
	seed              uint64
}

func newCluster(t testing.TB, o clusterOpts) *cluster {
	t.Helper()
	if o.nval == 0 {
		o.nval = 3
	}
	names := make([]string, o.nodes)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i+1)
	}
	r, err := ring.New(ring.Config{Partitions: o.partitions, Tokens: 16, NVal: o.nval, MaxLoad: 0}, names)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultLocalConfig()
	cfg.NVal = o.nval
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	c := &cluster{
		t:       t,
		net:     transport.NewMemNetwork(o.seed),
		members: &members{r: r, down: make(map[string]bool)},
		clock:   &clock{},
		cfg:     cfg,
		names:   names,
		reps:    make(map[string]*replica),
		wrap:    o.wrap,
	}
	c.clock.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	t.Cleanup(func() { _ = c.net.Close() })
	for _, n := range names {
		c.start(n)
	}
	return c
}

// start (re)starts node name on an empty store and builds its trees.
func (c *cluster) start(name string) *replica {
	c.t.Helper()
	st, err := storage.NewStore(storage.NewMemory())
	if err != nil {
		c.t.Fatal(err)
	}
	r := &replica{name: name, store: st, reg: prometheus.NewRegistry()}
	c.reps[name] = r
	ep := c.net.Join(name, transport.HandlerFunc(func(ctx context.Context, from string, kind uint8, body []byte) ([]byte, error) {
		return r.ae.Load().Serve(ctx, from, kind, body)
	}))
	cfg := c.cfg
	cfg.Self = name
	cfg.Now = c.clock.Now
	cfg.Registry = r.reg
	if tt, ok := c.t.(*testing.T); ok {
		cfg.Logger = slog.New(slog.NewTextHandler(tt.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	var local Local = r
	if c.wrap != nil {
		local = c.wrap(r)
	}
	ae, err := New(cfg, local, c.members, ep)
	if err != nil {
		c.t.Fatal(err)
	}
	r.ae.Store(ae)
	if err := ae.Build(context.Background()); err != nil {
		c.t.Fatal(err)
	}
	return r
}

func (c *cluster) rep(name string) *replica { return c.reps[name] }

func (c *cluster) all() []*replica {
	out := make([]*replica, 0, len(c.names))
	for _, n := range c.names {
		out = append(out, c.reps[n])
	}
	return out
}

// exchangeAll runs one ExchangePeer round from every node with every other.
func (c *cluster) exchangeAll(ctx context.Context) Stats {
	c.t.Helper()
	var total Stats
	for _, a := range c.names {
		for _, b := range c.names {
			if a == b {
				continue
			}
			st, err := c.reps[a].ae.Load().ExchangePeer(ctx, b)
			if err != nil {
				c.t.Fatalf("exchange %s→%s: %v", a, b, err)
			}
			total.add(st)
		}
	}
	return total
}

func (s *Stats) add(o Stats) {
	s.Partitions += o.Partitions
	s.DifferingPartitions += o.DifferingPartitions
	s.Segments += o.Segments
	s.Keys += o.Keys
	s.Pushed += o.Pushed
	s.Pulled += o.Pulled
	s.BytesSent += o.BytesSent
	s.BytesReceived += o.BytesReceived
	s.Rounds += o.Rounds
	s.Duration += o.Duration
}

// treeCopy is a copy of one partition's tree.
type treeCopy struct {
	built       bool
	root        uint64
	leaves      []uint64
	branches    []uint64
	keys, tombs int
}

func copyTree(a *AntiEntropy, p int) treeCopy {
	t := &a.trees[p]
	t.mu.Lock()
	defer t.mu.Unlock()
	tc := treeCopy{built: t.built, root: t.root, keys: t.keys, tombs: t.tombs,
		leaves: make([]uint64, a.geo.segments()), branches: make([]uint64, a.geo.branches())}
	copy(tc.leaves, t.leaves)
	copy(tc.branches, t.branches)
	return tc
}

// freshTree computes partition p's tree from a scan of the store.
func freshTree(t testing.TB, a *AntiEntropy, r *replica, p int) treeCopy {
	t.Helper()
	g := a.geo
	tc := treeCopy{built: true, leaves: make([]uint64, g.segments()), branches: make([]uint64, g.branches())}
	lo, hi := g.partRange(p)
	err := r.store.Scan(lo, hi, func(k storage.Key, c versioning.Clock) error {
		st := stateOf(k, c)
		s := g.segment(k.Hash)
		tc.leaves[s] ^= st.ih
		tc.branches[s>>g.fbits] ^= st.ih
		tc.root ^= st.ih
		tc.keys++
		tc.tombs += b2i(st.tomb)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

func (x treeCopy) equal(y treeCopy) bool {
	return x.built == y.built && x.root == y.root && slices.Equal(x.leaves, y.leaves) && slices.Equal(x.branches, y.branches)
}

// requireTreeMatchesStore checks that every tree of r equals a fresh build
// from its store, counts included.
func requireTreeMatchesStore(t testing.TB, r *replica) {
	t.Helper()
	a := r.ae.Load()
	for p := range a.trees {
		got, want := copyTree(a, p), freshTree(t, a, r, p)
		if !got.equal(want) || got.keys != want.keys || got.tombs != want.tombs {
			t.Fatalf("%s partition %d: tree (root %x, %d keys, %d tombstones) differs from a fresh build (root %x, %d keys, %d tombstones)",
				r.name, p, got.root, got.keys, got.tombs, want.root, want.keys, want.tombs)
		}
	}
}

// requireConverged checks that reps hold Sync-equal objects and equal
// trees, each matching its store.
func requireConverged(t testing.TB, reps ...*replica) {
	t.Helper()
	first := reps[0].dump(t)
	for _, r := range reps[1:] {
		other := r.dump(t)
		for _, k := range slices.SortedFunc(maps.Keys(first), cmpKey) {
			c, ok := other[k]
			if !ok {
				t.Fatalf("%s lacks %s (held by %s)", r.name, k, reps[0].name)
			}
			if !versioning.Equal(c, first[k]) {
				t.Fatalf("%s and %s differ on %s", r.name, reps[0].name, k)
			}
		}
		for k := range other {
			if _, ok := first[k]; !ok {
				t.Fatalf("%s lacks %s (held by %s)", reps[0].name, k, r.name)
			}
		}
	}
	for _, r := range reps {
		requireTreeMatchesStore(t, r)
	}
	a := reps[0].ae.Load()
	for p := range a.trees {
		want := copyTree(a, p)
		for _, r := range reps[1:] {
			if got := copyTree(r.ae.Load(), p); !got.equal(want) {
				t.Fatalf("partition %d: trees of %s and %s differ", p, r.name, reps[0].name)
			}
		}
	}
}

func cmpKey(x, y storage.Key) int { return strings.Compare(x.String(), y.String()) }

func val(s string, lm time.Time) versioning.Value {
	return versioning.Value{Data: []byte(s), LastModified: lm.UnixNano()}
}

func tomb(lm time.Time) versioning.Value {
	return versioning.Value{Deleted: true, LastModified: lm.UnixNano()}
}

// checkGoroutines fails t if, after the test, more goroutines run than
// before it, polled against a deadline.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("%d goroutines leaked:\n%s", n-before, buf[:runtime.Stack(buf, true)])
				return
			}
			runtime.Gosched()
			time.Sleep(time.Millisecond) // poll interval, not a wait for an event
		}
	})
}
