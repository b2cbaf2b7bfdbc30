package clustertest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynamod/dynamod/internal/clustertest"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/transport"
	"github.com/dynamod/dynamod/versioning"
)

func put(t *testing.T, c *clustertest.Cluster, node, key, value string, vctx versioning.Context, o quorum.WriteOptions) (*quorum.Object, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	return c.Node(node).Put(ctx, "b", key, vctx, versioning.Value{Data: []byte(value)}, o)
}

func get(t *testing.T, c *clustertest.Cluster, node, key string, o quorum.ReadOptions) (*quorum.Object, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	return c.Node(node).Get(ctx, "b", key, o)
}

func values(cl versioning.Clock) map[string]bool {
	out := map[string]bool{}
	for _, v := range versioning.Values(cl) {
		out[string(v.Data)] = true
	}
	return out
}

// TestCluster_readAsksR: a default read asks R replicas, this node first;
// the read_repair_chance share of reads (every tenth by default) asks them
// all, as r=all does; and a replica that does not answer within
// SpeculativeRead makes the read ask the others, so a paused replica does
// not stall reads.
func TestCluster_readAsksR(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, SpeculativeRead: time.Minute})
	if _, err := put(t, c, "n1", "k", "v", nil, quorum.WriteOptions{W: quorum.All}); err != nil {
		t.Fatal(err)
	}
	gets := fmt.Sprintf("request.%d", quorum.KindGet)
	// count makes reads and returns the remote reads they sent. A read
	// answers at R replies and asks the rest in the background: wait until
	// want have been sent, then for them to land, and count again.
	count := func(reads int, o quorum.ReadOptions, want int) int {
		t.Helper()
		before := c.Net.Stats()[gets]
		for range reads {
			if obj, err := get(t, c, "n1", "k", o); err != nil || !values(obj.Clock)["v"] {
				t.Fatalf("get: %v %v", obj, err)
			}
		}
		for end := time.Now().Add(5 * time.Second); c.Net.Stats()[gets]-before < want && time.Now().Before(end); {
			time.Sleep(time.Millisecond)
		}
		if err := c.Net.Drain(deadline(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		return c.Net.Stats()[gets] - before
	}
	// r=2 with n1 a replica: one remote read each, and two more for the
	// 10th and 20th reads, which ask every replica.
	if got := count(20, quorum.ReadOptions{}, 22); got != 22 {
		t.Errorf("20 default reads sent %d remote reads, want 22", got)
	}
	if got := count(5, quorum.ReadOptions{R: quorum.All}, 10); got != 10 {
		t.Errorf("5 r=all reads sent %d remote reads, want 10", got)
	}
	// The 30th read of n1 asks every replica; the others ask none.
	if got := count(9, quorum.ReadOptions{R: quorum.One}, 2); got != 2 {
		t.Errorf("9 r=1 reads from a replica sent %d remote reads, want 2", got)
	}

	s := clustertest.Start(t, clustertest.Options{Nodes: 3, SpeculativeRead: 20 * time.Millisecond})
	slow := firstAsked(t, s)
	s.Net.Hook(func(m *transport.Msg) bool {
		return !(m.Response && m.From == slow && m.Kind == quorum.KindGet)
	})
	before := s.Net.Stats()[gets]
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	obj, err := s.Node("n1").Get(ctx, "b", "k", quorum.ReadOptions{})
	if err != nil || !values(obj.Clock)["v"] {
		t.Fatalf("read with %s silent: %v %v", slow, obj, err)
	}
	if got := s.Net.Stats()[gets] - before; got != 2 {
		t.Errorf("read with %s silent sent %d remote reads, want 2 (the silent one, then the other)", slow, got)
	}
}

// firstAsked writes "k" = "v" to every replica and returns the replica
// that n1's reads of "k" ask first (n1 reads itself, then this one).
func firstAsked(t *testing.T, c *clustertest.Cluster) string {
	t.Helper()
	if _, err := put(t, c, "n1", "k", "v", nil, quorum.WriteOptions{W: quorum.All}); err != nil {
		t.Fatal(err)
	}
	r := c.Ring()
	for _, m := range r.Preflist(r.Partition(ring.Hash("b", "k")), 3) {
		if m != "n1" {
			return m
		}
	}
	t.Fatal("n1 is the only replica of k")
	return ""
}

func deadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestCluster_replicatesToAllN: a write reaches every primary, W acks or not.
func TestCluster_replicatesToAllN(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 5})
	var keys []string
	for i := range 30 {
		k := fmt.Sprintf("k%d", i)
		keys = append(keys, k)
		if _, err := put(t, c, c.Names()[i%5], k, "v"+k, nil, quorum.WriteOptions{}); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	c.RequireConverged(deadline(t, 5*time.Second), "b", keys)
	r := c.Ring()
	for _, k := range keys {
		for _, n := range r.Preflist(r.Partition(ringHash("b", k)), 3) {
			cl, ok := c.LocalState(n, "b", k)
			if !ok || !values(cl)["v"+k] {
				t.Errorf("%s lacks %s", n, k)
			}
		}
	}
}

// TestCluster_quorumSemantics checks R, W, PR and PW against down replicas.
func TestCluster_quorumSemantics(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	if _, err := put(t, c, "n1", "k", "v1", nil, quorum.WriteOptions{W: quorum.All}); err != nil {
		t.Fatalf("w=all with all up: %v", err)
	}
	c.Crash("n3")
	// Three nodes, one down: no fallback exists, so w=all cannot be met,
	// and the coordinator knows it before writing anything.
	_, err := put(t, c, "n1", "k", "v2", nil, quorum.WriteOptions{W: quorum.All})
	var ue *quorum.UnavailableError
	if !errors.As(err, &ue) || ue.Want != 3 {
		t.Fatalf("w=all with one down: err = %v, want unavailable, 3 wanted", err)
	}
	if cl, _ := c.LocalState("n1", "b", "k"); values(cl)["v2"] {
		t.Fatal("a write rejected up front was stored")
	}
	if _, err := put(t, c, "n2", "k", "v3", nil, quorum.WriteOptions{W: quorum.Quorum(2)}); err != nil {
		t.Fatalf("w=2 with one down: %v", err)
	}
	if _, err := get(t, c, "n1", "k", quorum.ReadOptions{R: quorum.All}); !errors.Is(err, quorum.ErrUnavailable) {
		t.Fatalf("r=all with one down: err = %v", err)
	}
	obj, err := get(t, c, "n1", "k", quorum.ReadOptions{R: quorum.Majority, PR: quorum.Majority})
	if err != nil || !values(obj.Clock)["v3"] {
		t.Fatalf("r=pr=quorum: %v, %v", obj, err)
	}
	if _, err := put(t, c, "n1", "k", "v4", nil, quorum.WriteOptions{PW: quorum.All}); !errors.Is(err, quorum.ErrUnavailable) {
		t.Fatalf("pw=all with a primary down: %v", err)
	}
	if _, err := get(t, c, "n1", "k", quorum.ReadOptions{R: 4}); !errors.Is(err, quorum.ErrBadRequest) {
		t.Fatalf("r=4 > n_val: err = %v, want bad request", err)
	}
}

// TestCluster_fallbackAndHandoff: with a primary down, writes go to a
// fallback with a hint; when the primary returns the hint is delivered and
// the fallback drops its copy.
func TestCluster_fallbackAndHandoff(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 5})
	r := c.Ring()
	down := "n2"
	c.Crash(down)
	h := c.RunWorkload(t.Context(), clustertest.Workload{Keys: 40, Ops: 300, Nodes: []string{"n1", "n3", "n4", "n5"}})
	// Four of five nodes answer: every read and write has its quorum (a
	// write whose read failed is skipped, and so missing from Acked too).
	if n := len(h.Acked()); n != 300 {
		t.Fatalf("%d of 300 writes acknowledged with one node down of five", n)
	}
	c.Restart(down)
	c.RequireConverged(deadline(t, 10*time.Second), h.Bucket, h.Keys())
	c.RequireNoLostWrites(h)
	// Fallback copies are gone: every key lives only on its primaries.
	waitFor(t, 10*time.Second, func() string {
		for _, k := range h.Keys() {
			pl := r.Preflist(r.Partition(ringHash(h.Bucket, k)), 3)
			for _, n := range c.Names() {
				if _, ok := c.LocalState(n, h.Bucket, k); ok && !slices.Contains(pl, n) {
					return fmt.Sprintf("fallback %s still holds %s", n, k)
				}
			}
		}
		for _, n := range c.Names() {
			if p := c.Node(n).Store().HintCount(); p != 0 {
				return fmt.Sprintf("%s has %d hints pending", n, p)
			}
		}
		return ""
	})
}

// TestCluster_coordinatorKeepsHint: in a cluster of exactly N nodes a down
// primary has no fallback; the coordinator keeps its hint.
func TestCluster_coordinatorKeepsHint(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	c.Crash("n3")
	for i := range 20 {
		if _, err := put(t, c, "n1", fmt.Sprintf("k%d", i), "v", nil, quorum.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if h := c.Node("n1").Store().HintCount(); h < 20 {
		t.Fatalf("coordinator kept %d hints for the down primary, want one per write (20)", h)
	}
	c.Restart("n3")
	var keys []string
	for i := range 20 {
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	c.RequireConverged(deadline(t, 10*time.Second), "b", keys)
}

// TestCluster_readRepair: a replica that missed writes (its messages were
// vetoed) is repaired by a read that asks it (r=all asks every replica; a
// default read asks R of them, see TestCluster_readAsksR).
func TestCluster_readRepair(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, NoHandoff: true})
	missOnN3(t, c)
	if _, err := get(t, c, "n2", "k", quorum.ReadOptions{R: quorum.All}); err != nil {
		t.Fatal(err)
	}
	c.RequireConverged(deadline(t, 5*time.Second), "b", []string{"k"})
}

// missOnN3 writes "k" = "v" through n1 while n3's replica writes are
// vetoed, checks that n3 missed it, and lifts the veto: n3 is stale for
// a read to repair (the cluster must not hand off hints).
func missOnN3(t *testing.T, c *clustertest.Cluster) {
	t.Helper()
	var veto atomic.Bool
	veto.Store(true)
	c.Net.Hook(func(m *transport.Msg) bool {
		return !(veto.Load() && m.To == "n3" && m.Kind == quorum.KindReplicate)
	})
	vetoed := fmt.Sprintf("request.%d.vetoed", quorum.KindReplicate)
	before := c.Net.Stats()[vetoed]
	if _, err := put(t, c, "n1", "k", "v", nil, quorum.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The write answers at W=2; the call to n3 may not have been made
	// yet. Lift the veto only once it has met it.
	waitFor(t, 5*time.Second, func() string {
		if c.Net.Stats()[vetoed] == before {
			return "the write to n3 was not sent"
		}
		return ""
	})
	if _, ok := c.LocalState("n3", "b", "k"); ok {
		t.Fatal("n3 got the write despite the veto")
	}
	veto.Store(false)
}

// TestCluster_concurrentWritesBecomeSiblings: writes with the same context at
// different coordinators are both kept.
func TestCluster_concurrentWritesBecomeSiblings(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 5})
	base, err := put(t, c, "n1", "k", "base", nil, quorum.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 4)
	for i, n := range []string{"n2", "n3", "n4", "n5"} {
		go func() {
			_, err := put(t, c, n, "k", fmt.Sprintf("w%d", i), base.Context, quorum.WriteOptions{})
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	obj, err := get(t, c, "n1", "k", quorum.ReadOptions{R: quorum.All})
	if err != nil {
		t.Fatal(err)
	}
	got := values(obj.Clock)
	if len(got) != 4 || got["base"] {
		t.Fatalf("siblings = %v, want w0..w3 without base", got)
	}
	// Resolving with the read's context leaves one value everywhere.
	if _, err := put(t, c, "n3", "k", "merged", obj.Context, quorum.WriteOptions{W: quorum.All}); err != nil {
		t.Fatal(err)
	}
	obj, err = get(t, c, "n5", "k", quorum.ReadOptions{R: quorum.All})
	if err != nil || len(values(obj.Clock)) != 1 || !values(obj.Clock)["merged"] {
		t.Fatalf("after resolve: %v %v", obj, err)
	}
}

// TestCluster_partitionThenHeal: both sides of a partition take writes;
// after the heal every write survives, as siblings where they conflict.
func TestCluster_partitionThenHeal(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 5})
	c.Partition([]string{"n1", "n2"}, []string{"n3", "n4", "n5"})
	h1 := c.RunWorkload(t.Context(), clustertest.Workload{Keys: 10, Ops: 100, Nodes: []string{"n1", "n2"}, Seed: 1})
	h2 := c.RunWorkload(t.Context(), clustertest.Workload{Keys: 10, Ops: 100, Nodes: []string{"n3", "n4", "n5"}, Seed: 2})
	if len(h1.Acked()) == 0 || len(h2.Acked()) == 0 {
		t.Fatalf("acked %d and %d: both sides must take writes", len(h1.Acked()), len(h2.Acked()))
	}
	c.Heal()
	for _, h := range []*clustertest.History{h1, h2} {
		c.RequireConverged(deadline(t, 10*time.Second), h.Bucket, h.Keys())
	}
	c.RequireNoLostWrites(h1, h2)
	// A key written blind on both sides has values from both.
	both := 0
	for _, k := range h1.Keys() {
		vals := values(c.Merged("w", k))
		var a, b bool
		for _, w := range h1.Acked() {
			a = a || (w.Key == k && vals[w.Value])
		}
		for _, w := range h2.Acked() {
			b = b || (w.Key == k && vals[w.Value])
		}
		if a && b {
			both++
		}
	}
	if both == 0 {
		t.Error("no key kept writes from both sides of the partition as siblings")
	}
}

// TestCluster_coordinatorCrashMidWrite: the coordinator dies while its
// replication is in flight; nothing acknowledged is lost, and a restarted
// coordinator never reuses a dot.
func TestCluster_coordinatorCrashMidWrite(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	h := c.RunWorkload(t.Context(), clustertest.Workload{Keys: 5, Ops: 100, Nodes: []string{"n1"}})
	// Slow the replication so the crash lands mid-write.
	c.Net.SetLink("n1", "n2", transport.Link{Delay: 30 * time.Millisecond})
	c.Net.SetLink("n1", "n3", transport.Link{Delay: 30 * time.Millisecond})
	done := make(chan struct{})
	n1 := c.Node("n1")
	replicates := fmt.Sprintf("request.%d", quorum.KindReplicate)
	before := c.Net.Stats()[replicates]
	go func() {
		defer close(done)
		for i := range 20 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, _ = n1.Put(ctx, "w", fmt.Sprintf("k%d", i%5), nil, versioning.Value{Data: []byte("mid")}, quorum.WriteOptions{})
			cancel()
		}
	}()
	// Crash once some of these writes are replicating.
	waitFor(t, 5*time.Second, func() string {
		if c.Net.Stats()[replicates] < before+4 {
			return "no write in flight yet"
		}
		return ""
	})
	c.Crash("n1")
	<-done
	c.Net.Heal()
	c.Restart("n1")
	// The restarted coordinator keeps writing: its new dots must not
	// collide with dots it minted before the crash and lost locally.
	h2 := c.RunWorkload(t.Context(), clustertest.Workload{Keys: 5, Ops: 100, Nodes: []string{"n1"}, Seed: 9})
	keys := append(h.Keys(), h2.Keys()...)
	// n1's replicates sent before the crash still land (a network delivers
	// what a process wrote before it died), 30 ms after they left: a
	// "mid" value read repair had not seen would stay on one replica.
	if err := c.Net.Drain(deadline(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Read every key once so read repair spreads what survived.
	for _, k := range keys {
		_, _ = c.Node("n2").Get(t.Context(), h.Bucket, k, quorum.ReadOptions{R: quorum.All})
	}
	c.RequireConverged(deadline(t, 10*time.Second), h.Bucket, keys)
	c.RequireNoLostWrites(h, h2)
}

// TestCluster_notFoundBasicQuorum: r=all with notfound_ok=false on a key
// no replica has is a not found once every replica said so (Riak's basic
// quorum), not unavailable at the first not-found; with a replica down it
// cannot be decided.
func TestCluster_notFoundBasicQuorum(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	no := false
	ro := quorum.ReadOptions{R: quorum.All, NotFoundOK: &no}
	for _, n := range c.Names() {
		if _, err := get(t, c, n, "absent", ro); !errors.Is(err, quorum.ErrNotFound) {
			t.Fatalf("r=all notfound_ok=false via %s: %v, want not found", n, err)
		}
	}
	if _, err := put(t, c, "n1", "present", "v", nil, quorum.WriteOptions{W: quorum.All}); err != nil {
		t.Fatal(err)
	}
	if obj, err := get(t, c, "n2", "present", ro); err != nil || !values(obj.Clock)["v"] {
		t.Fatalf("r=all notfound_ok=false of a written key: %v %v", obj, err)
	}
	c.Crash("n3")
	var ue *quorum.UnavailableError
	if _, err := get(t, c, "n1", "absent", ro); !errors.As(err, &ue) {
		t.Fatalf("r=all with a replica down: %v, want unavailable", err)
	}
}

// TestCluster_lossAndDelay: a lossy, slow network; every acknowledged write
// survives and replicas converge once the network heals.
func TestCluster_lossAndDelay(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 4})
	for _, a := range c.Names() {
		for _, b := range c.Names() {
			if a < b {
				c.Net.SetLink(a, b, transport.Link{Drop: 0.1, Delay: 2 * time.Millisecond, Jitter: 3 * time.Millisecond})
			}
		}
	}
	h := c.RunWorkload(t.Context(), clustertest.Workload{Keys: 20, Ops: 300, Timeout: 700 * time.Millisecond})
	c.Heal()
	// Messages already on their way keep their delay: let them land
	// before the reads whose repair must see them.
	if err := c.Net.Drain(deadline(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, k := range h.Keys() {
		_, _ = c.Node("n1").Get(t.Context(), h.Bucket, k, quorum.ReadOptions{R: quorum.All})
	}
	c.RequireConverged(deadline(t, 15*time.Second), h.Bucket, h.Keys())
	c.RequireNoLostWrites(h)
}

// TestCluster_underReplicated: a lone node serves with one copy.
func TestCluster_underReplicated(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 1})
	if _, err := put(t, c, "n1", "k", "v", nil, quorum.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	obj, err := get(t, c, "n1", "k", quorum.ReadOptions{R: quorum.All})
	if err != nil || !values(obj.Clock)["v"] {
		t.Fatalf("get: %v %v", obj, err)
	}
	if _, err := get(t, c, "n1", "k", quorum.ReadOptions{R: 3}); err != nil {
		t.Fatalf("r=3 fits n_val 3 and is capped to the one replica: %v", err)
	}
}

func waitFor(t *testing.T, d time.Duration, f func() string) {
	t.Helper()
	end := time.Now().Add(d)
	last := ""
	for time.Now().Before(end) {
		if last = f(); last == "" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("not within %v: %s", d, last)
}
