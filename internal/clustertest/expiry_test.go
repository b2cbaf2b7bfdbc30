package clustertest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dynamod/dynamod/internal/clustertest"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/versioning"
)

// skewAllowance is the clock difference between nodes that expiry allows
// for (docs/design.md, "Expiry"). In-process nodes share one clock.
const skewAllowance = time.Second

// readsGone reports whether a read on node finds key deleted: a tombstone
// answer (404 with a context) or not found.
func readsGone(t *testing.T, c *clustertest.Cluster, node, key string, r quorum.Quorum) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	obj, err := c.Node(node).Get(ctx, "b", key, quorum.ReadOptions{R: r})
	switch {
	case errors.Is(err, quorum.ErrNotFound):
		return true, "not found"
	case err != nil:
		t.Fatalf("read %s on %s: %v", key, node, err)
	}
	return versioning.IsTombstone(obj.Clock), fmt.Sprint(versioning.Values(obj.Clock))
}

// TestExpiry_partition: a session written with a 2 s TTL reads as deleted
// on every node, on both sides of a partition, once 2 s and the skew
// allowance have passed; the majority side writes a tombstone over it;
// after the partition heals and anti-entropy runs, the minority's expired
// copy is replaced by that tombstone, which the reaper then removes, and
// the value never reads again. A value refreshed (written again with the
// context of a read that saw it, and a new TTL) outlives its first TTL.
func TestExpiry_partition(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, NoHandoff: true, AntiEntropy: true,
		AEInterval: time.Hour, TombstoneGrace: time.Nanosecond})
	write := func(key string, vctx versioning.Context, ttl time.Duration) time.Time {
		t.Helper()
		now := time.Now()
		v := versioning.Value{Data: []byte(key), LastModified: now.UnixNano(), Expires: now.Add(ttl).UnixNano()}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		if _, err := c.Node("n1").Put(ctx, "b", key, vctx, v, quorum.WriteOptions{W: quorum.All}); err != nil {
			t.Fatal(err)
		}
		return now.Add(ttl)
	}
	expires := write("session", nil, 2*time.Second)
	write("refreshed", nil, 2*time.Second)
	obj, err := get(t, c, "n2", "refreshed", quorum.ReadOptions{R: quorum.All})
	if err != nil || len(versioning.Values(obj.Clock)) != 1 {
		t.Fatalf("read before expiry: %v %v", err, obj)
	}
	write("refreshed", obj.Context, time.Hour)
	for _, n := range c.Names() {
		if gone, vs := readsGone(t, c, n, "session", quorum.One); gone {
			t.Fatalf("%s: the session reads gone before its TTL: %s", n, vs)
		}
	}

	c.Partition([]string{"n1", "n2"}, []string{"n3"})
	time.Sleep(time.Until(expires.Add(skewAllowance)))
	for _, n := range c.Names() {
		r := quorum.Majority
		if n == "n3" {
			r = quorum.One // alone on its side
		}
		if gone, vs := readsGone(t, c, n, "session", r); !gone {
			t.Fatalf("%s: the session reads %s after its TTL", n, vs)
		}
		if gone, _ := readsGone(t, c, n, "refreshed", r); gone {
			t.Fatalf("%s: the refreshed value expired with its first TTL", n)
		}
	}
	// The majority's reads wrote a tombstone over the expired value.
	waitFor(t, 5*time.Second, func() string {
		for _, n := range []string{"n1", "n2"} {
			if cl, _ := c.LocalState(n, "b", "session"); !versioning.IsTombstone(cl) {
				return n + " holds no tombstone: " + fmt.Sprint(versioning.Values(cl))
			}
		}
		return ""
	})
	if cl, ok := c.LocalState("n3", "b", "session"); !ok || versioning.IsTombstone(cl) || !versioning.IsTombstoneAt(cl, time.Now().UnixNano()) {
		t.Fatalf("n3 should still hold the expired value itself: %v", versioning.Values(cl))
	}

	c.Heal()
	exchangeWith(t, c, "n1", "n2", "n3")
	if cl, _ := c.LocalState("n3", "b", "session"); !versioning.IsTombstone(cl) {
		t.Fatalf("n3 after the exchange: %v, want the tombstone", versioning.Values(cl))
	}
	for _, n := range c.Names() {
		if gone, vs := readsGone(t, c, n, "session", quorum.All); !gone {
			t.Fatalf("%s: the expired session came back after the heal: %s", n, vs)
		}
	}
	part := c.Ring().Partition(ringHash("b", "session"))
	prim := c.Ring().Preflist(part, 3)
	st, err := c.Node(prim[0]).AntiEntropy().ReapPartition(t.Context(), part)
	if err != nil || st.Reaped < 1 {
		t.Fatalf("reap on %s: %+v %v, want the session reaped", prim[0], st, err)
	}
	for _, n := range c.Names() {
		if _, ok := c.LocalState(n, "b", "session"); ok {
			t.Fatalf("%s still holds the session after the reap", n)
		}
		if gone, vs := readsGone(t, c, n, "session", quorum.All); !gone {
			t.Fatalf("%s: the session came back after the reap: %s", n, vs)
		}
	}
}

// TestExpiry_reapUnread: a value that expired and was never read again is
// reaped like a tombstone once every replica holds it and the grace has
// passed since its expiry; a value that has not expired is not.
func TestExpiry_reapUnread(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, NoHandoff: true, AntiEntropy: true,
		AEInterval: time.Hour, TombstoneGrace: time.Nanosecond})
	now := time.Now()
	for key, ttl := range map[string]time.Duration{"short": 50 * time.Millisecond, "long": time.Hour} {
		v := versioning.Value{Data: []byte(key), LastModified: now.UnixNano(), Expires: now.Add(ttl).UnixNano()}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		_, err := c.Node("n1").Put(ctx, "b", key, nil, v, quorum.WriteOptions{W: quorum.All})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Until(now.Add(50 * time.Millisecond)))
	for key, want := range map[string]bool{"short": true, "long": false} {
		part := c.Ring().Partition(ringHash("b", key))
		prim := c.Ring().Preflist(part, 3)
		st, err := c.Node(prim[0]).AntiEntropy().ReapPartition(t.Context(), part)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range c.Names() {
			if _, ok := c.LocalState(n, "b", key); ok == want {
				t.Fatalf("%s: %s held %v after a reap pass (%+v), want reaped %v", key, n, ok, st, want)
			}
		}
	}
}
