package clustertest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dynamod/dynamod/antientropy"
	"github.com/dynamod/dynamod/internal/clustertest"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/transport"
	"github.com/dynamod/dynamod/versioning"
)

// TestAntiEntropy_partitionHealNoHints: both sides of a partition take
// writes; with hinted handoff off and no reads after the heal, the
// exchanges alone make every replica equal, with siblings where the sides
// conflicted and no acknowledged write lost.
func TestAntiEntropy_partitionHealNoHints(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 5, NoHandoff: true, AntiEntropy: true})
	c.Partition([]string{"n1", "n2"}, []string{"n3", "n4", "n5"})
	h1 := c.RunWorkload(t.Context(), clustertest.Workload{Keys: 30, Ops: 150, Nodes: []string{"n1", "n2"}, Seed: 11, ReadFirst: 0.01})
	h2 := c.RunWorkload(t.Context(), clustertest.Workload{Keys: 30, Ops: 150, Nodes: []string{"n3", "n4", "n5"}, Seed: 12, ReadFirst: 0.01})
	c.Heal()
	keys := append(h1.Keys(), h2.Keys()...)
	c.RequireConverged(deadline(t, 20*time.Second), "w", keys)
	c.RequireNoLostWrites(h1, h2)
}

// TestAntiEntropy_wipedReplicaRefilled: a node whose data directory is
// wiped comes back with a new identity and is refilled by exchanges alone;
// a write it coordinates afterwards is never shadowed by an old dot.
func TestAntiEntropy_wipedReplicaRefilled(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, NoHandoff: true, AntiEntropy: true})
	var keys []string
	for i := range 40 {
		k := fmt.Sprintf("k%d", i)
		keys = append(keys, k)
		if _, err := put(t, c, "n1", k, "old-"+k, nil, quorum.WriteOptions{W: quorum.All}); err != nil {
			t.Fatal(err)
		}
	}
	c.Crash("n2")
	c.Wipe("n2")
	c.Restart("n2")
	c.RequireConverged(deadline(t, 20*time.Second), "b", keys)
	// A write coordinated by the refilled node, with a context that has
	// seen the old value, replaces it everywhere.
	obj, err := get(t, c, "n2", "k7", quorum.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := put(t, c, "n2", "k7", "new", obj.Context, quorum.WriteOptions{W: quorum.All}); err != nil {
		t.Fatal(err)
	}
	c.RequireConverged(deadline(t, 10*time.Second), "b", keys)
	got := values(c.Merged("b", "k7"))
	if len(got) != 1 || !got["new"] {
		t.Fatalf("k7 = %v, want only the new write", got)
	}
}

// TestAntiEntropy_tombstoneReapedOnlyWhenSafe: a delete misses one primary;
// nothing is reaped while that primary lacks the tombstone and the old value
// never comes back; once exchanges bring it the tombstone and the grace has
// passed, the key is gone from every replica.
func TestAntiEntropy_tombstoneReapedOnlyWhenSafe(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, NoHandoff: true, AntiEntropy: true,
		AEInterval: time.Hour, TombstoneGrace: time.Nanosecond}) // the grace itself is tested in package antientropy
	if _, err := put(t, c, "n1", "gone", "v", nil, quorum.WriteOptions{W: quorum.All}); err != nil {
		t.Fatal(err)
	}
	obj, err := get(t, c, "n1", "gone", quorum.ReadOptions{R: quorum.All})
	if err != nil {
		t.Fatal(err)
	}
	// The delete never reaches n3.
	c.Net.Hook(func(m *transport.Msg) bool { return !(m.To == "n3" && m.Kind == quorum.KindReplicate) })
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	_, err = c.Node("n1").Put(ctx, "b", "gone", obj.Context, versioning.Value{Deleted: true}, quorum.WriteOptions{})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if cl, _ := c.LocalState("n3", "b", "gone"); versioning.IsTombstone(cl) {
		t.Fatal("n3 got the delete despite the veto")
	}
	// Reaping is refused while n3 holds the live value, although the
	// grace has passed (exchanges are off: the interval is an hour). The
	// stats show the pass looked: the tombstone was a candidate, and n3
	// blocked it. A pass that errored or never scanned proves nothing.
	part := c.Ring().Partition(ringHash("b", "gone"))
	for _, n := range []string{"n1", "n2"} {
		st, err := c.Node(n).AntiEntropy().ReapPartition(t.Context(), part)
		if err != nil {
			t.Fatalf("reap on %s: %v", n, err)
		}
		if want := (antientropy.ReapStats{Candidates: 1, Blocked: 1}); st != want {
			t.Fatalf("reap on %s while n3 lacks the tombstone: %+v, want %+v", n, st, want)
		}
	}
	for _, n := range []string{"n1", "n2"} {
		if cl, ok := c.LocalState(n, "b", "gone"); !ok || !versioning.IsTombstone(cl) {
			t.Fatalf("%s reaped (or lost) the tombstone while n3 lacked it", n)
		}
	}
	// Exchanges bring n3 the tombstone; then reaping removes it everywhere.
	exchangeWith(t, c, "n1", "n2", "n3")
	if cl, _ := c.LocalState("n3", "b", "gone"); !versioning.IsTombstone(cl) {
		t.Fatalf("n3 after the exchange: %v, want the tombstone", versioning.Values(cl))
	}
	// Every replica now holds the same tombstone: one pass on n1 reaps it
	// on the others and then on n1, before it returns.
	st, err := c.Node("n1").AntiEntropy().ReapPartition(t.Context(), part)
	if err != nil {
		t.Fatalf("reap on n1 once n3 has the tombstone: %v", err)
	}
	if want := (antientropy.ReapStats{Candidates: 1, Reaped: 1}); st != want {
		t.Fatalf("reap on n1 once n3 has the tombstone: %+v, want %+v", st, want)
	}
	for _, n := range c.Names() {
		if _, ok := c.LocalState(n, "b", "gone"); ok {
			t.Fatalf("%s still holds the tombstone after the reap", n)
		}
	}
	if _, err := get(t, c, "n3", "gone", quorum.ReadOptions{R: quorum.All}); err == nil {
		t.Fatal("the deleted value came back")
	}
}
