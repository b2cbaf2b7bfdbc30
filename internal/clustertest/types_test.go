package clustertest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dynamod/dynamod/crdt"
	"github.com/dynamod/dynamod/internal/clustertest"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/versioning"
)

// setDatatype makes bucket a datatype bucket and waits until every
// running node knows.
func setDatatype(t *testing.T, c *clustertest.Cluster, bucket, dt string) {
	t.Helper()
	if err := c.Node("n1").SetBucketProps(bucket, quorum.Props{Datatype: dt}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() string {
		for _, n := range c.Names() {
			if got := c.Node(n).BucketProps(bucket).Datatype; got != dt {
				return fmt.Sprintf("%s sees datatype %q", n, got)
			}
		}
		return ""
	})
}

func update(t *testing.T, c *clustertest.Cluster, node, bucket, key string, op crdt.Op, w quorum.Quorum) (crdt.State, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	return c.Node(node).UpdateType(ctx, bucket, key, op, quorum.WriteOptions{W: w})
}

func readType(t *testing.T, c *clustertest.Cluster, node, bucket, key string, r quorum.Quorum) (crdt.State, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	return c.Node(node).GetType(ctx, bucket, key, quorum.ReadOptions{R: r})
}

// converged waits until a read with R=all on every node answers the same
// value, twice in a row, and returns it.
func converged(t *testing.T, c *clustertest.Cluster, bucket, key string) any {
	t.Helper()
	var last string
	var value any
	waitFor(t, 20*time.Second, func() string {
		var vals []string
		for _, n := range c.Names() {
			s, err := readType(t, c, n, bucket, key, quorum.All)
			if err != nil {
				last = ""
				return fmt.Sprintf("read on %s: %v", n, err)
			}
			vals = append(vals, fmt.Sprint(s.Value()))
			value = s.Value()
		}
		if len(slices.Compact(slices.Clone(vals))) != 1 {
			last = ""
			return fmt.Sprintf("nodes disagree: %v", vals)
		}
		if vals[0] != last {
			last = vals[0]
			return "not yet stable: " + last
		}
		return ""
	})
	return value
}

// TestTypes_counterThroughPartitionAndCrash: concurrent increments at
// every node, in rounds, through a partition into two sides that both
// take writes (sloppy quorum), a crash and restart of a node and the
// heal, sum exactly: every acknowledged increment counts, and an
// unacknowledged one at most once.
//
// The failure detector lags, so for a while the others still forward
// updates to the crashed node and replicate to it: those updates fail
// without an answer and are not acknowledged (an update is never sent to
// a second coordinator after an ambiguous failure).
func TestTypes_counterThroughPartitionAndCrash(t *testing.T) {
	seed := clustertest.Seed(t)
	c := clustertest.Start(t, clustertest.Options{Nodes: 5, Seed: seed, AntiEntropy: true,
		DetectDelay: 100 * time.Millisecond})
	setDatatype(t, c, "c", "counter")
	rng := rand.New(rand.NewPCG(seed, 16))
	keys := []string{"k0", "k1", "k2", "k3"} // different preference lists
	var mu sync.Mutex
	acked, attempted, failed := map[string]int64{}, map[string]int64{}, map[string]bool{}
	live := func() []string {
		var out []string
		for _, n := range c.Names() {
			if c.Node(n) != nil {
				out = append(out, n)
			}
		}
		return out
	}
	for round := range 30 {
		switch round {
		case 8:
			c.Partition([]string{"n1", "n2"}, []string{"n3", "n4", "n5"})
		case 14:
			c.Crash("n4")
		case 20:
			c.Restart("n4")
		case 24:
			c.Heal()
		}
		var wg sync.WaitGroup
		for i, n := range live() {
			key, inc := keys[(round+i)%len(keys)], int64(1+rng.IntN(5))
			wg.Go(func() {
				_, err := update(t, c, n, "c", key, crdt.Op{Type: crdt.TypeCounter, Increment: inc}, 2)
				mu.Lock()
				defer mu.Unlock()
				attempted[key] += inc
				if err == nil {
					acked[key] += inc
				} else {
					failed[key] = true
				}
			})
		}
		wg.Wait()
	}
	for _, key := range keys {
		total := converged(t, c, "c", key).(int64)
		t.Logf("%s: acknowledged %d, attempted %d, total %d", key, acked[key], attempted[key], total)
		if total < acked[key] || total > attempted[key] {
			t.Fatalf("%s: total %d outside [acknowledged %d, attempted %d]", key, total, acked[key], attempted[key])
		}
		if !failed[key] && total != acked[key] {
			t.Fatalf("%s: every increment was acknowledged: total %d, want %d", key, total, acked[key])
		}
		if acked[key] == 0 {
			t.Fatalf("%s: no increment was acknowledged", key)
		}
	}
}

// TestTypes_cartThroughPartition: a cart as a set. Items are added and
// removed on both sides of a partition; after the heal it holds exactly
// the items added and not removed, and an add concurrent with a remove of
// the same item (on the other side) wins.
func TestTypes_cartThroughPartition(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 5, Seed: clustertest.Seed(t), AntiEntropy: true})
	setDatatype(t, c, "s", "set")
	must := func(s crdt.State, err error) crdt.State {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	set := func(add []string, remove []string, ctx *crdt.Context) crdt.Op {
		return crdt.Op{Type: crdt.TypeSet, Add: add, Remove: remove, Context: ctx}
	}
	must(update(t, c, "n1", "s", "cart", set([]string{"apple", "bread", "cheese", "dates"}, nil, nil), quorum.All))
	before := must(readType(t, c, "n5", "s", "cart", quorum.All)).Ctx

	c.Partition([]string{"n1", "n2"}, []string{"n3", "n4", "n5"})
	// Side A removes apple (seen before the partition) and adds eggs.
	must(update(t, c, "n1", "s", "cart", set([]string{"eggs"}, []string{"apple"}, &before), 2))
	// Side B removes bread, adds fig, and adds apple again: an add the
	// other side's remove did not see.
	must(update(t, c, "n3", "s", "cart", set([]string{"fig"}, []string{"bread"}, &before), 2))
	must(update(t, c, "n4", "s", "cart", set([]string{"apple"}, nil, nil), 2))
	// Side A reads what it has and removes cheese with that context, and
	// eggs, which it added itself.
	sideA := must(readType(t, c, "n2", "s", "cart", 2)).Ctx
	must(update(t, c, "n2", "s", "cart", set(nil, []string{"cheese", "eggs"}, &sideA), 2))
	// A remove of an item the context never saw is refused.
	if _, err := update(t, c, "n2", "s", "cart", set(nil, []string{"fig"}, &sideA), 2); err == nil {
		t.Fatalf("a remove of an item the context did not see was accepted")
	}

	c.Heal()
	got := converged(t, c, "s", "cart").([]string)
	if want := []string{"apple", "dates", "fig"}; !slices.Equal(got, want) {
		t.Fatalf("cart %q, want %q", got, want)
	}
	// The reads wrote their join back: every replica's storage holds one
	// state, not siblings.
	waitFor(t, 10*time.Second, func() string {
		for _, n := range c.Names() {
			if cl, ok := c.LocalState(n, "s", "cart"); ok && len(versioning.Values(cl)) > 1 {
				return fmt.Sprintf("%s stores %d states", n, len(versioning.Values(cl)))
			}
		}
		return ""
	})
}
