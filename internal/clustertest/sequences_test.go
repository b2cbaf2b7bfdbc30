package clustertest_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynamod/dynamod/internal/clustertest"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/transport"
	"github.com/dynamod/dynamod/versioning"
)

// The tests of this file pin sequences around ownership and forwarding
// that used to lose, duplicate or leak writes (issue 10's list).

// keyWhere returns a key of bucket "b" whose walk in r satisfies ok.
func keyWhere(t *testing.T, r *ring.Ring, ok func(walk []string) bool) (string, []string) {
	t.Helper()
	for i := range 100000 {
		k := fmt.Sprintf("key%d", i)
		if w := r.Walk(r.Partition(ring.Hash("b", k))); ok(w) {
			return k, w
		}
	}
	t.Fatal("no key with the wanted walk")
	return "", nil
}

// TestSequence_fallbackReusesItsEpoch: a key written through a fallback
// while its first primary is down keeps a small clock: the fallback mints
// every dot with the same actor instead of a fresh one per write.
func TestSequence_fallbackReusesItsEpoch(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 4, NoHandoff: true})
	k, walk := keyWhere(t, c.Ring(), func([]string) bool { return true })
	c.Crash(walk[0])
	fallback := walk[3]
	var vctx versioning.Context
	for i := range 100 {
		obj, err := put(t, c, fallback, k, fmt.Sprint("v", i), vctx, quorum.WriteOptions{})
		if err != nil {
			t.Fatalf("write %d through the fallback: %v", i, err)
		}
		vctx = obj.Context
	}
	cl := c.Merged("b", k)
	if n := len(cl.Entries); n > 2 {
		t.Fatalf("after 100 writes through one fallback the clock has %d entries, want at most 2 (one per coordinator)", n)
	}
	if got := values(cl); len(got) != 1 || !got["v99"] {
		t.Fatalf("values %v, want only v99", got)
	}
}

// TestSequence_forwardGoesToAPrimaryFirst: a node outside a key's targets
// forwards a write to a live primary before a fallback standing in for a
// down one.
func TestSequence_forwardGoesToAPrimaryFirst(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 5})
	k, walk := keyWhere(t, c.Ring(), func([]string) bool { return true })
	c.Crash(walk[0])
	var mu sync.Mutex
	var to []string
	c.Net.Hook(func(m *transport.Msg) bool {
		if m.Kind == quorum.KindCoordinate && !m.Response {
			mu.Lock()
			to = append(to, m.To)
			mu.Unlock()
		}
		return true
	})
	if _, err := put(t, c, walk[4], k, "v", nil, quorum.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(to) == 0 || (to[0] != walk[1] && to[0] != walk[2]) {
		t.Fatalf("the write was forwarded to %v; want a live primary (%s or %s) first, not the fallback %s", to, walk[1], walk[2], walk[3])
	}
}

// TestSequence_forwardMovesOnFromASilentTarget: a target believed alive
// that does not answer (a paused process) costs a forward the replica
// timeout, not the whole request: the next target coordinates.
func TestSequence_forwardMovesOnFromASilentTarget(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 5, ReplicaTimeout: 300 * time.Millisecond})
	k, walk := keyWhere(t, c.Ring(), func([]string) bool { return true })
	paused := walk[0]
	c.Net.Hook(func(m *transport.Msg) bool { return m.To != paused || m.Response })
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.Node(walk[4]).Put(ctx, "b", k, nil, versioning.Value{Data: []byte("v")}, quorum.WriteOptions{})
	if err != nil {
		t.Fatalf("PUT with %s paused: %v after %v; two live primaries could take it", paused, err, time.Since(start))
	}
}

// TestSequence_forwardRetryAppliesOnce: a forward whose answer is lost is
// retried on the next target, and the write is applied once, not as two
// equal siblings.
func TestSequence_forwardRetryAppliesOnce(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 5, ReplicaTimeout: 300 * time.Millisecond})
	k, walk := keyWhere(t, c.Ring(), func([]string) bool { return true })
	var mu sync.Mutex
	dropped := false
	c.Net.Hook(func(m *transport.Msg) bool {
		mu.Lock()
		defer mu.Unlock()
		if m.Kind == quorum.KindCoordinate && m.Response && !dropped {
			dropped = true // the first coordinator's answer is lost
			return false
		}
		return true
	})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if _, err := c.Node(walk[4]).Put(ctx, "b", k, nil, versioning.Value{Data: []byte("once")}, quorum.WriteOptions{}); err != nil {
		t.Fatalf("PUT: %v", err)
	}
	c.RequireConverged(deadline(t, 5*time.Second), "b", []string{k})
	if vs := versioning.Values(c.Merged("b", k)); len(vs) != 1 {
		t.Fatalf("one PUT left %d values: %v", len(vs), vs)
	}
}

// TestSequence_noOrphanCopy: a node that coordinates a write while it is
// not one of the key's targets (the forwarder's view of liveness differed)
// does not keep its copy forever: the targets get the write and the copy
// goes.
func TestSequence_noOrphanCopy(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 5})
	k, walk := keyWhere(t, c.Ring(), func([]string) bool { return true })
	sender, outsider := walk[4], walk[3]
	// The sender believes the first primary dead, so the outsider is a
	// fallback in its view; the two live primaries do not take forwards.
	c.Believe(sender, walk[0], false)
	c.Net.Hook(func(m *transport.Msg) bool {
		return !(m.Kind == quorum.KindCoordinate && !m.Response && (m.To == walk[1] || m.To == walk[2]))
	})
	if _, err := put(t, c, sender, k, "v", nil, quorum.WriteOptions{}); err != nil {
		t.Fatalf("PUT: %v", err)
	}
	if _, ok := c.LocalState(outsider, "b", k); !ok {
		t.Fatalf("the write was not coordinated by %s as the test wanted", outsider)
	}
	c.ForgetBeliefs()
	eventually(t, 5*time.Second, func() string {
		for _, m := range walk[:3] {
			if cl, ok := c.LocalState(m, "b", k); !ok || !values(cl)["v"] {
				return m + " lacks the write"
			}
		}
		if _, ok := c.LocalState(outsider, "b", k); ok {
			return outsider + " still keeps a copy outside the preference list"
		}
		return ""
	})
}

// TestSequence_droppedCopyNeverReusesItsEpoch: a node that released its
// copy of a key after a join, became a primary again after a leave and
// received an older copy from a lagging replica must not mint a dot its
// epoch already minted: the write it then coordinates, and the one the
// lagging replica missed, both survive.
func TestSequence_droppedCopyNeverReusesItsEpoch(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, NoHandoff: true})
	r3 := c.Ring()
	// n4 will join: find a key n4 takes over from n1 (n1's partition moves).
	r4, err := ring.New(r3.Config(), []string{"n1", "n2", "n3", "n4"})
	if err != nil {
		t.Fatal(err)
	}
	var k string
	for i := range 100000 {
		cand := fmt.Sprintf("key%d", i)
		p := r4.Partition(ring.Hash("b", cand))
		if !slices.Contains(r4.Preflist(p, 3), "n1") {
			k = cand
			break
		}
	}
	if k == "" {
		t.Fatal("no key moves away from n1")
	}
	// n1 coordinates v1, then v2 over it; n3 misses v2 (lagging replica).
	o1, err := put(t, c, "n1", k, "v1", nil, quorum.WriteOptions{W: quorum.All})
	if err != nil {
		t.Fatal(err)
	}
	block := true
	var mu sync.Mutex
	c.Net.Hook(func(m *transport.Msg) bool {
		mu.Lock()
		defer mu.Unlock()
		writes := m.Kind == quorum.KindReplicate || m.Kind == quorum.KindRepair || m.Kind == quorum.KindHandoff ||
			(m.Kind >= 32 && m.Kind < pageKind) // anti-entropy
		return !(block && m.To == "n3" && !m.Response && writes)
	})
	if _, err := put(t, c, "n1", k, "v2", o1.Context, quorum.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The hint n1 kept for n3 is lost (say it was on a disk that died):
	// n3 stays behind, and nothing owes it the key any more.
	sk := storage.Key{Hash: ring.Hash("b", k), Bucket: "b", Key: k}
	eventually(t, 5*time.Second, func() string {
		if has, _ := c.Node("n1").Store().HasHint("n3", sk); !has {
			return "n1 has not stored its hint for n3 yet"
		}
		return ""
	})
	if err := c.Node("n1").Store().DeleteHint("n3", sk); err != nil {
		t.Fatal(err)
	}
	// n4 joins; n1 releases the key's partition.
	n4 := c.Join()
	eventually(t, 10*time.Second, func() string {
		if _, ok := c.LocalState("n1", "b", k); ok || !c.Steady() {
			return "n1 still holds the key, or the join has not settled"
		}
		return ""
	})
	// n4 leaves: n1 is a primary again and receives the partition, only
	// from the lagging n3 (pages from n2 and n4 are dropped).
	c.Net.Hook(func(m *transport.Msg) bool {
		return !(m.To == "n1" && m.Response && m.Kind == pageKind && m.From != "n3")
	})
	if err := c.Node(n4).Leave(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Node(n4).Left():
	case <-time.After(10 * time.Second):
		t.Fatal("n4 did not finish leaving")
	}
	eventually(t, 10*time.Second, func() string {
		if !c.Steady() {
			return "the leave has not settled"
		}
		return ""
	})
	// n1 now coordinates a blind write, concurrent with v2.
	if _, err := put(t, c, "n1", k, "v3", nil, quorum.WriteOptions{W: quorum.One}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	block = false
	mu.Unlock()
	got := values(c.Merged("b", k))
	if !got["v2"] || !got["v3"] {
		t.Fatalf("merged values %v: want both v2 (missed by n3) and v3 (written blind after it)", got)
	}
}

// pageKind is the transfer package's page request kind.
const pageKind = 64

func eventually(t *testing.T, timeout time.Duration, f func() string) {
	t.Helper()
	end := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(end) {
		if last = f(); last == "" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("not within %v: %s", timeout, last)
}

// slowHints delays every hint write of a node's engine while armed.
type slowHints struct {
	storage.Engine
	armed *atomic.Bool
	delay time.Duration
}

func (e slowHints) Put(key, value []byte, sync bool) error {
	if e.armed.Load() && len(key) > 0 && key[0] == 'h' { // storage's hint prefix
		time.Sleep(e.delay)
	}
	return e.Engine.Put(key, value, sync)
}

// TestSequence_fallbackHintBeforeHandoffCanDrop: a fallback that takes a
// write for one down primary while it hands the key off to another primary
// keeps its copy until the new hint is delivered: the hint is stored under
// the key's lock, so the hand-off cannot drop the copy in between.
func TestSequence_fallbackHintBeforeHandoffCanDrop(t *testing.T) {
	var armed atomic.Bool
	var fallback string
	c := clustertest.Start(t, clustertest.Options{Nodes: 4, WrapEngine: func(name string, e storage.Engine) storage.Engine {
		if name == fallback {
			return slowHints{Engine: e, armed: &armed, delay: 300 * time.Millisecond}
		}
		return e
	}})
	k, walk := keyWhere(t, c.Ring(), func([]string) bool { return true })
	p, q, x, f := walk[0], walk[1], walk[2], walk[3]
	// f must run with the slow engine: restart it with the wrapper on.
	fallback = f
	c.Crash(f)
	c.Restart(f)

	// w1 while q is down: f takes it for q, with a hint.
	c.Crash(q)
	o1, err := put(t, c, x, k, "w1", nil, quorum.WriteOptions{W: quorum.All}) // f acks after its hint
	if err != nil {
		t.Fatal(err)
	}
	if has, _ := c.Node(f).Store().HasHint(q, storage.Key{Hash: ring.Hash("b", k), Bucket: "b", Key: k}); !has {
		t.Fatalf("%s holds no hint for %s", f, q)
	}
	// q is back, but f's hand-offs to it fail for now.
	var mu sync.Mutex
	veto := true
	c.Net.Hook(func(m *transport.Msg) bool {
		mu.Lock()
		defer mu.Unlock()
		return !(veto && m.Kind == quorum.KindHandoff && m.To == q && !m.Response)
	})
	c.Restart(q)
	// x believes p dead: w2 goes to f as the fallback for p. f's hint
	// writes are slow, and its hand-off to q runs meanwhile.
	c.Believe(x, p, false)
	armed.Store(true)
	mu.Lock()
	veto = false
	mu.Unlock()
	if _, err := put(t, c, x, k, "w2", o1.Context, quorum.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	armed.Store(false)
	c.ForgetBeliefs()
	// p must get w2: f still owes it.
	eventually(t, 5*time.Second, func() string {
		if cl, ok := c.LocalState(p, "b", k); !ok || !values(cl)["w2"] {
			return fmt.Sprintf("%s lacks w2 (%v)", p, values(cl))
		}
		return ""
	})
}
