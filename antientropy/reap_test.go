package antientropy

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/transport"
	"github.com/dynamod/dynamod/versioning"
)

// keyWithPrimaries returns a key of a partition whose preference list (for
// n) satisfies ok, and that list.
func keyWithPrimaries(t *testing.T, c *cluster, n int, ok func(pl []string) bool) (storage.Key, int, []string) {
	t.Helper()
	r := c.members.Ring()
	for i := range 10000 {
		k := key("del", fmt.Sprint("key", i))
		p := r.Partition(k.Hash)
		if pl := r.Preflist(p, n); ok(pl) {
			return k, p, slices.Clone(pl)
		}
	}
	t.Fatal("no key with such primaries")
	return storage.Key{}, 0, nil
}

// deleted writes v1 on every replica, then a delete of it, and returns the
// states.
func deleted(t *testing.T, c *cluster, k storage.Key) (live, del versioning.Clock) {
	t.Helper()
	live = versioning.Update(versioning.New(nil, val("v1", c.clock.Now())), versioning.Clock{}, 1)
	del = versioning.Update(versioning.New(versioning.Join(live), tomb(c.clock.Now())), live, 1)
	return live, del
}

func requireAbsentEverywhere(t *testing.T, c *cluster, k storage.Key) {
	t.Helper()
	for _, r := range c.all() {
		if cl, ok := r.get(t, k); ok {
			t.Fatalf("%s still holds %s: %d values, tombstone %v", r.name, k, cl.Len(), versioning.IsTombstone(cl))
		}
	}
}

// TestReap_waitsForEveryPrimary is the scenario: a delete, one
// primary's copy of the tombstone lost; reaping must wait until that
// primary caught up through an exchange and the grace has passed, and
// nothing may come back.
func TestReap_waitsForEveryPrimary(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: 3, partitions: 4})
	k, p, pl := keyWithPrimaries(t, c, 3, func([]string) bool { return true })
	reaper, lost := c.rep(pl[0]), c.rep(pl[2])
	live, del := deleted(t, c, k)
	for _, r := range c.all() {
		r.set(t, k, del)
	}
	lost.set(t, k, live) // the delete never reached it

	// Within the grace nothing is a candidate.
	c.clock.advance(time.Hour)
	st, err := reaper.ae.Load().ReapPartition(t.Context(), p)
	if err != nil || st.Candidates != 0 || st.Reaped != 0 {
		t.Fatalf("reap within the grace: %+v, %v", st, err)
	}
	// After the grace, the primary without the tombstone blocks it.
	c.clock.advance(24 * time.Hour)
	st, err = reaper.ae.Load().ReapPartition(t.Context(), p)
	if err != nil || st.Candidates != 1 || st.Reaped != 0 || st.Blocked != 1 {
		t.Fatalf("reap with a primary behind: %+v, %v; want one blocked candidate", st, err)
	}
	for _, r := range c.all() {
		cl, ok := r.get(t, k)
		want := del
		if r == lost {
			want = live
		}
		if !ok || !versioning.Equal(cl, want) {
			t.Fatalf("%s changed by a blocked reap", r.name)
		}
	}

	// The lagging primary catches up by exchange alone; the old value
	// does not come back.
	if _, err := reaper.ae.Load().ExchangePeer(t.Context(), lost.name); err != nil {
		t.Fatal(err)
	}
	requireConverged(t, c.all()...)
	if cl, _ := lost.get(t, k); !versioning.IsTombstone(cl) {
		t.Fatalf("%s does not hold the tombstone after the exchange", lost.name)
	}

	st, err = reaper.ae.Load().ReapPartition(t.Context(), p)
	if err != nil || st.Reaped != 1 || st.Blocked != 0 {
		t.Fatalf("reap once every primary holds the tombstone: %+v, %v", st, err)
	}
	requireAbsentEverywhere(t, c, k)
	requireConverged(t, c.all()...)
	for _, r := range c.all() {
		if got := counter(t, r, "dynamod_antientropy_tombstones_reaped_total"); got != 1 {
			t.Fatalf("%s reaped %v tombstones, want 1", r.name, got)
		}
	}
	// Later exchanges bring nothing back.
	c.exchangeAll(t.Context())
	requireAbsentEverywhere(t, c, k)
	if got := reaper.ae.Load().Status().Reaped; got != 1 {
		t.Fatalf("Status().Reaped = %d, want 1", got)
	}
}

// TestReap_blockedByAnyMemberDown: a primary that is down, or a fallback
// that is down (it may hold a stale copy or hint), blocks reaping.
func TestReap_blockedByAnyMemberDown(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: 4, partitions: 8})
	k, p, pl := keyWithPrimaries(t, c, 3, func([]string) bool { return true })
	_, del := deleted(t, c, k)
	for _, r := range c.all() {
		r.set(t, k, del)
	}
	c.clock.advance(25 * time.Hour)
	var fallback string
	for _, n := range c.names {
		if !slices.Contains(pl, n) {
			fallback = n
		}
	}
	for _, down := range []string{pl[1], fallback} {
		c.members.setDown(down, true)
		st, err := c.rep(pl[0]).ae.Load().ReapPartition(t.Context(), p)
		c.members.setDown(down, false)
		if err != nil || st.Reaped != 0 || st.Reason == "" {
			t.Fatalf("reap with %s down: %+v, %v; want nothing reaped and a reason", down, st, err)
		}
	}
	st, err := c.rep(pl[0]).ae.Load().ReapPartition(t.Context(), p)
	if err != nil || st.Reaped != 1 {
		t.Fatalf("reap with everyone up: %+v, %v", st, err)
	}
	requireAbsentEverywhere(t, c, k)
}

// TestReap_staleFallbackBlocks: a non-primary holding an older value (a
// fallback copy not yet handed off) blocks reaping, since handing it off
// after the reap would resurrect it; one holding the tombstone is reaped
// along.
func TestReap_staleFallbackBlocks(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: 4, partitions: 8})
	k, p, pl := keyWithPrimaries(t, c, 3, func([]string) bool { return true })
	live, del := deleted(t, c, k)
	var fallback *replica
	for _, r := range c.all() {
		if slices.Contains(pl, r.name) {
			r.set(t, k, del)
		} else {
			fallback = r
		}
	}
	fallback.set(t, k, live)
	c.clock.advance(25 * time.Hour)
	reaper := c.rep(pl[0]).ae.Load()
	if st, err := reaper.ReapPartition(t.Context(), p); err != nil || st.Reaped != 0 || st.Blocked != 1 {
		t.Fatalf("reap with a stale fallback: %+v, %v; want it blocked", st, err)
	}
	fallback.set(t, k, del)
	if st, err := reaper.ReapPartition(t.Context(), p); err != nil || st.Reaped != 1 {
		t.Fatalf("reap with the fallback holding the tombstone: %+v, %v", st, err)
	}
	requireAbsentEverywhere(t, c, k)
	if got := counter(t, fallback, "dynamod_antientropy_tombstones_reaped_total"); got != 1 {
		t.Fatalf("fallback reaped %v, want 1", got)
	}
}

// TestReap_lostReapMessage: when a reap request to a primary is lost the
// pass fails before reaping locally; the tombstone stays a tombstone, and a
// later pass finishes the job.
func TestReap_lostReapMessage(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: 3, partitions: 4, cfg: func(c *Config) { c.CallTimeout = 200 * time.Millisecond }})
	k, p, pl := keyWithPrimaries(t, c, 3, func([]string) bool { return true })
	_, del := deleted(t, c, k)
	for _, r := range c.all() {
		r.set(t, k, del)
	}
	c.clock.advance(25 * time.Hour)
	var drop atomic.Bool
	drop.Store(true)
	c.net.Hook(func(m *transport.Msg) bool {
		return !(drop.Load() && m.Kind == KindReap && !m.Response && m.To == pl[2])
	})
	reaper := c.rep(pl[0]).ae.Load()
	_, err := reaper.ReapPartition(t.Context(), p)
	if err == nil {
		t.Fatal("reap with a lost message succeeded")
	}
	for _, n := range []string{pl[0], pl[2]} {
		if cl, ok := c.rep(n).get(t, k); !ok || !versioning.Equal(cl, del) {
			t.Fatalf("%s lost the tombstone after a failed reap", n)
		}
	}
	// Exchanges in between copy only the tombstone back, never a value.
	c.exchangeAll(t.Context())
	for _, r := range c.all() {
		if cl, ok := r.get(t, k); !ok || !versioning.Equal(cl, del) {
			t.Fatalf("%s holds something else than the tombstone", r.name)
		}
	}
	drop.Store(false)
	if st, err := reaper.ReapPartition(t.Context(), p); err != nil || st.Reaped != 1 {
		t.Fatalf("second reap: %+v, %v", st, err)
	}
	requireAbsentEverywhere(t, c, k)
	requireConverged(t, c.all()...)
}

func TestReap_onlyPrimaries(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: 4, partitions: 8})
	_, p, pl := keyWithPrimaries(t, c, 3, func([]string) bool { return true })
	for _, n := range c.names {
		if slices.Contains(pl, n) {
			continue
		}
		if _, err := c.rep(n).ae.Load().ReapPartition(t.Context(), p); !errors.Is(err, ErrNotPrimary) {
			t.Fatalf("reap on non-primary %s: %v, want ErrNotPrimary", n, err)
		}
		return
	}
	t.Fatal("no non-primary")
}

// TestReap_liveSiblingKeepsKey: a tombstone with a live sibling is not a
// tombstone, and a reap request for a live key is refused by the peer.
func TestReap_liveSiblingKeepsKey(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: 3, partitions: 4})
	k, p, pl := keyWithPrimaries(t, c, 3, func([]string) bool { return true })
	_, del := deleted(t, c, k)
	both := versioning.Update(versioning.New(nil, val("concurrent", c.clock.Now())), del, 9)
	for _, r := range c.all() {
		r.set(t, k, both)
	}
	c.clock.advance(25 * time.Hour)
	if st, err := c.rep(pl[0]).ae.Load().ReapPartition(t.Context(), p); err != nil || st.Candidates != 0 {
		t.Fatalf("reap of a key with a live sibling: %+v, %v", st, err)
	}
	// A (confused) reap request for the live key changes nothing.
	e := encoder{}
	a := c.rep(pl[1]).ae.Load()
	e.header(a.geo)
	e.int(p)
	e.int(1)
	e.Str(k.Bucket)
	e.Str(k.Key)
	e.Fixed64(versioning.Digest(both))
	resp, err := a.Serve(t.Context(), pl[0], KindReap, e.B)
	if err != nil || len(resp) != 2 || resp[0] != stOK || resp[1] != 0 {
		t.Fatalf("reap request for a live key: %x, %v", resp, err)
	}
	if _, ok := c.rep(pl[1]).get(t, k); !ok {
		t.Fatal("live key reaped")
	}
}
