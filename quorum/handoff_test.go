package quorum

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// testNet connects coordinators of one test in process: a call runs the
// peer's Serve directly. A silent peer (a paused process believed alive)
// takes every call until the caller gives up; a down peer is known dead
// and refuses at once; a refusing one is believed alive and refuses.
type testNet struct {
	mu     sync.Mutex
	nodes  map[string]*Coordinator
	silent map[string]bool
	down   map[string]bool
	refuse map[string]bool
	// before, if set, runs before every call is delivered (or not).
	before func(from, to string, kind uint8, body []byte)
	// calls counts calls by destination and kind; inflight and maxInflight
	// count the calls of kind watch under way at once.
	calls       map[string]int
	watch       uint8
	inflight    int
	maxInflight int
}

func newTestNet() *testNet {
	return &testNet{nodes: map[string]*Coordinator{}, silent: map[string]bool{}, down: map[string]bool{},
		refuse: map[string]bool{}, calls: map[string]int{}}
}

func (n *testNet) set(f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f()
}

func (n *testNet) count(to string, kind uint8) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.calls[fmt.Sprintf("%s/%s", to, KindName(kind))]
}

type testEndpoint struct {
	n    *testNet
	self string
}

var errTestUnreachable = errors.New("test: unreachable")

func (e testEndpoint) Call(ctx context.Context, to string, kind uint8, body []byte) ([]byte, error) {
	n := e.n
	n.mu.Lock()
	c, silent, down, before := n.nodes[to], n.silent[to], n.down[to] || n.refuse[to], n.before
	n.calls[fmt.Sprintf("%s/%s", to, KindName(kind))]++
	watched := kind == n.watch
	if watched {
		n.inflight++
		n.maxInflight = max(n.maxInflight, n.inflight)
	}
	n.mu.Unlock()
	if watched {
		defer n.set(func() { n.inflight-- })
	}
	if before != nil {
		before(e.self, to, kind, body)
	}
	switch {
	case c == nil || down:
		return nil, errTestUnreachable
	case silent:
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return c.Serve(ctx, e.self, kind, slices.Clone(body))
}

// testMembers is a fixed ring; liveness is the net's down set as seen by
// everyone (a silent node is believed alive).
type testMembers struct {
	r *ring.Ring
	n *testNet
}

func (m testMembers) Ring() *ring.Ring { return m.r }
func (m testMembers) Alive(name string) bool {
	m.n.mu.Lock()
	defer m.n.mu.Unlock()
	return !m.n.down[name]
}
func (m testMembers) Owners(p, n int) ([]string, int, []string) {
	return m.r.Walk(p), min(n, len(m.r.Members())), nil
}

type fixedBuckets Props

func (b fixedBuckets) Props(string) Props { return Props(b) }

// testCluster is a set of coordinators over memory stores on a testNet.
type testCluster struct {
	net    *testNet
	r      *ring.Ring
	nodes  map[string]*Coordinator
	stores map[string]*storage.Store
}

// newTestCluster starts one coordinator per member; more names (members
// that left) may hold no ring position. props.NVal 0 takes the defaults.
func newTestCluster(t testing.TB, members []string, props Props, tune func(*Config)) *testCluster {
	t.Helper()
	r, err := ring.New(ring.Config{Partitions: 16, Tokens: 8}, members)
	if err != nil {
		t.Fatal(err)
	}
	if props.NVal == 0 {
		props = DefaultProps()
	} else {
		props = props.WithDefaults(DefaultProps())
	}
	tc := &testCluster{net: newTestNet(), r: r, nodes: map[string]*Coordinator{}, stores: map[string]*storage.Store{}}
	for _, name := range members {
		st, err := storage.NewStore(storage.NewMemory())
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.Self = name
		if tune != nil {
			tune(&cfg)
		}
		c, err := New(cfg, st, testMembers{r, tc.net}, testEndpoint{tc.net, name}, fixedBuckets(props))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); st.Close() })
		tc.nodes[name] = c
		tc.stores[name] = st
	}
	tc.net.set(func() {
		for name, c := range tc.nodes {
			tc.net.nodes[name] = c
		}
	})
	return tc
}

// keyFor returns a key of bucket "b" whose walk satisfies ok.
func (tc *testCluster) keyFor(t testing.TB, from int, ok func(walk []string) bool) storage.Key {
	t.Helper()
	for i := from; i < from+1_000_000; i++ {
		k := fmt.Sprintf("k%d", i)
		h := ring.Hash("b", k)
		if ok(tc.r.Walk(tc.r.Partition(h))) {
			return storage.Key{Hash: h, Bucket: "b", Key: k}
		}
	}
	t.Fatal("no key with the wanted walk")
	return storage.Key{}
}

// stored makes holder hold value v of k (as if it had coordinated it) with
// a hint for each of owed.
func (tc *testCluster) stored(t testing.TB, holder string, k storage.Key, v string, owed ...string) versioning.Clock {
	t.Helper()
	cl := versioning.Update(versioning.New(nil, versioning.Value{Data: []byte(v), LastModified: 1}), versioning.Clock{}, 0x7e57)
	if cur, err := tc.stores[holder].Get(k); err == nil {
		cl = versioning.Update(versioning.New(versioning.Join(cur), versioning.Value{Data: []byte(v), LastModified: 1}), cur, 0x7e57)
	}
	if err := tc.stores[holder].Put(k, cl, false); err != nil {
		t.Fatal(err)
	}
	for _, o := range owed {
		if err := tc.stores[holder].PutHint(o, k, false); err != nil {
			t.Fatal(err)
		}
	}
	return cl
}

func (tc *testCluster) hints(t testing.TB, holder, target string) int {
	t.Helper()
	n := 0
	if err := tc.stores[holder].Hints(target, func(string, storage.Key) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func (tc *testCluster) has(node string, k storage.Key, v string) bool {
	cl, err := tc.stores[node].Get(k)
	if err != nil {
		return false
	}
	for _, x := range versioning.Values(cl) {
		if string(x.Data) == v {
			return true
		}
	}
	return false
}

// TestHandoff_silentTargetCostsOneTimeoutPerRound: a target believed alive
// that does not answer costs a delivery round one replica timeout, not one
// per hint, and the hints for another target are all delivered in the
// same round.
func TestHandoff_silentTargetCostsOneTimeoutPerRound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := newTestCluster(t, []string{"a", "s", "t"}, Props{}, nil)
		for i := range 100 {
			tc.stored(t, "a", storage.Key{Hash: ring.Hash("b", fmt.Sprint("s", i)), Bucket: "b", Key: fmt.Sprint("s", i)}, "v", "s")
			tc.stored(t, "a", storage.Key{Hash: ring.Hash("b", fmt.Sprint("t", i)), Bucket: "b", Key: fmt.Sprint("t", i)}, "v", "t")
		}
		tc.net.set(func() { tc.net.silent["s"] = true })
		start := time.Now()
		got := tc.nodes["a"].DeliverHints(t.Context())
		took := time.Since(start)
		if got != 100 {
			t.Errorf("delivered %d hints, want the 100 for t", got)
		}
		if n := tc.hints(t, "a", "t"); n != 0 {
			t.Errorf("%d hints for t left after a round", n)
		}
		if n := tc.hints(t, "a", "s"); n != 100 {
			t.Errorf("%d hints for the silent s left, want 100", n)
		}
		if rt := DefaultConfig().ReplicaTimeout; took > rt+time.Second {
			t.Errorf("a round with a silent target took %v, want about one replica timeout (%v)", took, rt)
		}
		if n := tc.net.count("s", KindHandoff); n != 1 {
			t.Errorf("%d hand-off calls to the silent target in one round, want 1", n)
		}
	})
}

// TestHandoff_writeNotHeldBySilentTarget: a client write to a key whose
// hint is being delivered to a silent target does not wait for the call.
func TestHandoff_writeNotHeldBySilentTarget(t *testing.T) {
	tc := newTestCluster(t, []string{"a", "s", "t"}, Props{}, func(c *Config) { c.ReplicaTimeout = 2 * time.Second })
	k := tc.keyFor(t, 0, func([]string) bool { return true })
	tc.stored(t, "a", k, "old", "s")
	calling := make(chan struct{})
	var once sync.Once
	tc.net.set(func() {
		tc.net.silent["s"] = true
		tc.net.before = func(_, to string, kind uint8, _ []byte) {
			if to == "s" && kind == KindHandoff {
				once.Do(func() { close(calling) })
			}
		}
	})
	round := make(chan struct{})
	go func() {
		defer close(round)
		tc.nodes["a"].DeliverHints(t.Context())
	}()
	<-calling
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := tc.nodes["a"].Put(ctx, "b", k.Key, nil, versioning.Value{Data: []byte("new")}, WriteOptions{W: One})
	if took := time.Since(start); err != nil || took > 500*time.Millisecond {
		t.Errorf("PUT during a hand-off to a silent target: %v after %v, want success at once", err, took)
	}
	<-round
	if n := tc.hints(t, "a", "s"); n != 1 {
		t.Errorf("%d hints for s after the failed round, want 1", n)
	}
}

// TestHandoff_writeDuringSendKeepsCopy: a fallback whose copy changes while
// it hands the key off keeps its copy and the hint, and delivers the new
// state next round before it drops the copy.
func TestHandoff_writeDuringSendKeepsCopy(t *testing.T) {
	tc := newTestCluster(t, []string{"a", "s", "t", "u"}, Props{NVal: 1}, nil)
	k := tc.keyFor(t, 0, func(w []string) bool { return w[0] == "s" }) // a is no replica
	tc.stored(t, "a", k, "old", "s")
	var once sync.Once
	wrote := make(chan error, 1)
	tc.net.set(func() {
		tc.net.before = func(_, to string, kind uint8, _ []byte) {
			if to != "s" || kind != KindHandoff {
				return
			}
			once.Do(func() {
				// Anti-entropy brings a newer state meanwhile (no hint).
				go func() {
					cl := versioning.Update(versioning.New(nil, versioning.Value{Data: []byte("new"), LastModified: 2}), versioning.Clock{}, 0xbeef)
					wrote <- tc.nodes["a"].MergeLocal(k, cl)
				}()
				select {
				case err := <-wrote:
					wrote <- err
				case <-time.After(time.Second):
				}
			})
		}
	})
	tc.nodes["a"].DeliverHints(t.Context())
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the merge never finished")
	}
	if !tc.has("s", k, "old") {
		t.Fatal("s did not get the state sent")
	}
	if !tc.has("a", k, "new") || tc.hints(t, "a", "s") != 1 {
		t.Fatalf("after a write during the send, a holds new: %v, hints for s: %d; want the copy and its hint kept",
			tc.has("a", k, "new"), tc.hints(t, "a", "s"))
	}
	tc.net.set(func() { tc.net.before = nil })
	tc.nodes["a"].DeliverHints(t.Context())
	if !tc.has("s", k, "new") {
		t.Fatal("the next round did not deliver the newer state")
	}
	if _, err := tc.stores["a"].Get(k); !errors.Is(err, storage.ErrNotFound) || tc.hints(t, "a", "s") != 0 {
		t.Fatalf("after the second round a still holds the copy (%v) or %d hints", err, tc.hints(t, "a", "s"))
	}
}

// TestHandoff_moreThanOneBatch: more hints than one round reads are all
// delivered, in a few rounds.
func TestHandoff_moreThanOneBatch(t *testing.T) {
	tc := newTestCluster(t, []string{"a", "s", "t"}, Props{}, nil)
	const n = 5000
	for i := range n {
		k := fmt.Sprint("k", i)
		tc.stored(t, "a", storage.Key{Hash: ring.Hash("b", k), Bucket: "b", Key: k}, "v", "s")
	}
	total := 0
	for round := 0; round < 3 && total < n; round++ {
		total += tc.nodes["a"].DeliverHints(t.Context())
	}
	if total != n || tc.hints(t, "a", "s") != 0 {
		t.Fatalf("three rounds delivered %d of %d hints; %d left", total, n, tc.hints(t, "a", "s"))
	}
	count := 0
	if err := tc.stores["s"].Scan(0, ^uint64(0), func(storage.Key, versioning.Clock) error { count++; return nil }); err != nil || count != n {
		t.Fatalf("s holds %d keys (%v), want %d", count, err, n)
	}
}

// TestHandoff_refusingTargetDoesNotStarveOthers: a target believed alive
// that refuses every call, with more hints than a round reads, does not
// keep the hints of the other targets out of the round.
func TestHandoff_refusingTargetDoesNotStarveOthers(t *testing.T) {
	tc := newTestCluster(t, []string{"a", "s", "t"}, Props{}, nil)
	for i := range hintBatch + 100 {
		k := fmt.Sprint("s", i)
		tc.stored(t, "a", storage.Key{Hash: ring.Hash("b", k), Bucket: "b", Key: k}, "v", "s")
	}
	kt := storage.Key{Hash: ring.Hash("b", "t"), Bucket: "b", Key: "t"}
	tc.stored(t, "a", kt, "v", "t")
	tc.net.set(func() { tc.net.refuse["s"] = true })
	for range 2 {
		tc.nodes["a"].DeliverHints(t.Context())
	}
	if !tc.has("t", kt, "v") || tc.hints(t, "a", "t") != 0 {
		t.Fatalf("t did not get its hint while s refuses (%d left)", tc.hints(t, "a", "t"))
	}
	if n := tc.net.count("s", KindHandoff); n > 2 {
		t.Fatalf("%d calls to the refusing s in two rounds, want one per round", n)
	}
}

// TestHandoff_targetsAtOnce: hints for several slow targets are delivered
// concurrently, at most handoffTargets at once.
func TestHandoff_targetsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		names := []string{"a", "s1", "s2", "s3", "s4", "s5", "s6"}
		tc := newTestCluster(t, names, Props{}, nil)
		for _, s := range names[1:] {
			for i := range 3 {
				k := fmt.Sprint(s, "-", i)
				tc.stored(t, "a", storage.Key{Hash: ring.Hash("b", k), Bucket: "b", Key: k}, "v", s)
			}
		}
		tc.net.set(func() {
			tc.net.watch = KindHandoff
			for _, s := range names[1:] {
				tc.net.silent[s] = true
			}
		})
		start := time.Now()
		tc.nodes["a"].DeliverHints(t.Context())
		took := time.Since(start)
		rt := DefaultConfig().ReplicaTimeout
		if took > 2*rt+time.Second {
			t.Errorf("a round with six silent targets took %v, want two replica timeouts (%v each) with %d at once", took, rt, handoffTargets)
		}
		tc.net.mu.Lock()
		defer tc.net.mu.Unlock()
		if tc.net.maxInflight != handoffTargets {
			t.Errorf("%d hand-off calls at once, want %d", tc.net.maxInflight, handoffTargets)
		}
	})
}

// TestHandoff_departedMember: a hint for a member that is no longer in the
// ring goes to the key's replicas, and a copy this node does not
// replicate is dropped after.
func TestHandoff_departedMember(t *testing.T) {
	tc := newTestCluster(t, []string{"a", "s", "t"}, Props{NVal: 2}, nil)
	k := tc.keyFor(t, 0, func(w []string) bool { return !slices.Contains(w[:2], "a") })
	tc.stored(t, "a", k, "v", "gone")
	if got := tc.nodes["a"].DeliverHints(t.Context()); got != 1 {
		t.Fatalf("delivered %d, want 1", got)
	}
	if !tc.has("s", k, "v") || !tc.has("t", k, "v") {
		t.Fatal("the key's replicas did not get the departed member's copy")
	}
	if _, err := tc.stores["a"].Get(k); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a kept its copy: %v", err)
	}
}
