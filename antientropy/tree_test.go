package antientropy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

func TestConfig_validate(t *testing.T) {
	def := DefaultConfig()
	def.Self = "n1"
	if err := def.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	local := DefaultLocalConfig()
	local.Self = "n1"
	if err := local.Validate(); err != nil {
		t.Fatalf("local config: %v", err)
	}
	tests := []struct {
		name  string
		mod   func(*Config)
		field string
	}{
		{"no self", func(c *Config) { c.Self = "" }, "Self"},
		{"zero interval", func(c *Config) { c.Interval = 0 }, "Interval"},
		{"segments not a power of two", func(c *Config) { c.Segments = 1000 }, "Segments"},
		{"segments too few", func(c *Config) { c.Segments = 8 }, "Segments"},
		{"segments too many", func(c *Config) { c.Segments = 1 << 17 }, "Segments"},
		{"zero rebuild", func(c *Config) { c.RebuildInterval = 0 }, "RebuildInterval"},
		{"zero grace", func(c *Config) { c.TombstoneGrace = 0 }, "TombstoneGrace"},
		{"negative rate", func(c *Config) { c.MaxBytesPerSecond = -1 }, "MaxBytesPerSecond"},
		{"zero nval", func(c *Config) { c.NVal = 0 }, "NVal"},
		{"zero call timeout", func(c *Config) { c.CallTimeout = 0 }, "CallTimeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := def
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !contains(err.Error(), tc.field) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tc.field)
			}
		})
	}
	bad := Config{}
	if err := bad.Validate(); err == nil || !contains(err.Error(), "Interval") || !contains(err.Error(), "NVal") {
		t.Fatalf("Validate of the zero config = %v, want every field reported", err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestGeometry_matchesRing(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, q := range []int{1, 2, 8, 1024, 65536} {
		for _, s := range []int{16, 64, 1024, 65536} {
			g := newGeometry(q, s)
			if g.partitions() != q || g.segments() != s || g.fan()*g.branches() != s || g.fan() > g.branches() {
				t.Fatalf("Q=%d S=%d: geometry %+v has %d partitions, %d segments, %d×%d", q, s, g, g.partitions(), g.segments(), g.branches(), g.fan())
			}
			r, err := ring.New(ring.Config{Partitions: q, Tokens: 1}, []string{"a"})
			if err != nil {
				t.Fatal(err)
			}
			for range 200 {
				h := rng.Uint64()
				p := g.partition(h)
				if p != r.Partition(h) {
					t.Fatalf("Q=%d: partition(%x) = %d, ring says %d", q, h, p, r.Partition(h))
				}
				lo, hi := g.partRange(p)
				if rlo, rhi := r.Range(p); lo != rlo || hi != rhi {
					t.Fatalf("Q=%d: partRange(%d) = %x-%x, ring says %x-%x", q, p, lo, hi, rlo, rhi)
				}
				sg := g.segment(h)
				slo, shi := g.segRange(p, sg)
				if h < slo || h > shi {
					t.Fatalf("Q=%d S=%d: %x not in its segment %d = %x-%x", q, s, h, sg, slo, shi)
				}
			}
			// Segments tile the partition.
			p := rng.IntN(q)
			plo, phi := g.partRange(p)
			if lo, _ := g.segRange(p, 0); lo != plo {
				t.Fatalf("Q=%d S=%d: segment 0 starts at %x, partition at %x", q, s, lo, plo)
			}
			if _, hi := g.segRange(p, s-1); hi != phi {
				t.Fatalf("Q=%d S=%d: last segment ends at %x, partition at %x", q, s, hi, phi)
			}
			for sg := 1; sg < min(s, 64); sg++ {
				_, prevHi := g.segRange(p, sg-1)
				if lo, _ := g.segRange(p, sg); lo != prevHi+1 {
					t.Fatalf("Q=%d S=%d: segment %d starts at %x, previous ends at %x", q, s, sg, lo, prevHi)
				}
			}
		}
	}
}

func TestSplit_tilesRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ranges := [][2]uint64{{0, ^uint64(0)}, {0, 15}, {0, 14}, {5, 5}, {^uint64(0) - 20, ^uint64(0)}, {^uint64(0) - 15, ^uint64(0)}, {100, 355}}
	for range 300 {
		lo := rng.Uint64()
		w := rng.Uint64N(^uint64(0)-lo+1) >> rng.UintN(64)
		ranges = append(ranges, [2]uint64{lo, lo + w})
	}
	for _, rg := range ranges {
		lo, hi := rg[0], rg[1]
		w, ok := splitWidth(lo, hi)
		if !ok {
			if hi-lo >= splitWays-1 {
				t.Fatalf("%x-%x not split", lo, hi)
			}
			continue
		}
		next := lo
		done := false
		for j := range splitWays {
			slo, shi, ok := subRange(lo, hi, w, j)
			if !ok {
				done = true
				continue
			}
			if done || slo != next || shi < slo || shi > hi {
				t.Fatalf("%x-%x: sub-range %d = %x-%x, want one starting at %x", lo, hi, j, slo, shi, next)
			}
			for _, h := range []uint64{slo, shi, slo + (shi-slo)/2} {
				if int((h-lo)/w) != j {
					t.Fatalf("%x-%x: %x in sub-range %d but indexed %d", lo, hi, h, j, (h-lo)/w)
				}
			}
			next = shi + 1
			if shi == hi {
				done = true
			}
		}
		if !done {
			t.Fatalf("%x-%x: sub-ranges end before %x", lo, hi, hi)
		}
	}
}

// TestItemHash_golden pins the item hash: every node must compute the same,
// so changing it is a protocol change.
func TestItemHash_golden(t *testing.T) {
	tests := []struct {
		bucket, key string
		digest      uint64
		want        uint64
	}{
		{"b", "k", 0, 0xa9a63686f63545fa},
		{"users", "alice", 0x0123456789abcdef, 0x38f0eac6ddf56477},
		{"ab", "c", 7, 0x466e87ec484c2543},
		{"a", "bc", 7, 0x4fbce05c1c3803b0},
	}
	for _, tc := range tests {
		if got := itemHash(tc.bucket, tc.key, tc.digest); got != tc.want {
			t.Errorf("itemHash(%q, %q, %#x) = %#016x, want %#016x", tc.bucket, tc.key, tc.digest, got, tc.want)
		}
	}
}

// TestTree_incrementalMatchesBuild applies random writes, blind writes,
// deletes, merges, reaps and physical deletes and checks after each batch
// that the incrementally kept trees equal a build from scratch.
func TestTree_incrementalMatchesBuild(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			c := newCluster(t, clusterOpts{nodes: 1, partitions: 4, nval: 1, cfg: func(c *Config) { c.Segments = 16 }})
			r := c.rep("n1")
			other := &replica{name: "other"}
			st, err := storage.NewStore(storage.NewMemory())
			if err != nil {
				t.Fatal(err)
			}
			other.store = st
			rng := rand.New(rand.NewPCG(seed, 99))
			randomOps(t, rng, r, other, 200, 2000, c.clock, func(i int) {
				if i%200 == 199 {
					requireTreeMatchesStore(t, r)
				}
			})
			requireTreeMatchesStore(t, r)
			// A full rebuild of a built tree changes nothing.
			a := r.ae.Load()
			before := make([]treeCopy, len(a.trees))
			for p := range a.trees {
				before[p] = copyTree(a, p)
			}
			for p := range a.trees {
				if err := a.rebuild(t.Context(), p, 0, a.geo.segments()-1, true); err != nil {
					t.Fatal(err)
				}
				if got := copyTree(a, p); !got.equal(before[p]) || got.keys != before[p].keys || got.tombs != before[p].tombs {
					t.Fatalf("partition %d changed by a rebuild", p)
				}
			}
		})
	}
}

// randomOps applies n random operations on keys 0..keys-1 of r; other is a
// second store whose states get merged into r. each runs after every op.
func randomOps(t tb, rng *rand.Rand, r, other *replica, keys, n int, clk *clock, each func(i int)) {
	t.Helper()
	for i := range n {
		k := keyN(rng.IntN(keys))
		actor := versioning.ActorID(1 + rng.IntN(4))
		now := clk.Now()
		switch op := rng.IntN(10); op {
		case 0, 1, 2:
			r.write(t, k, val(fmt.Sprint("v", i), now), actor, true)
		case 3:
			r.write(t, k, val(fmt.Sprint("blind", i), now), actor, false)
		case 4:
			r.write(t, k, tomb(now), actor, true)
		case 5, 6:
			other.write(t, k, val(fmt.Sprint("o", i), now), 10+actor, rng.IntN(2) == 0)
			if oc, ok := other.get(t, k); ok {
				if err := r.MergeLocal(k, oc); err != nil {
					t.Fatal(err)
				}
			}
		case 7:
			if cur, ok := r.get(t, k); ok {
				if _, err := r.ReapLocal(k, versioning.Digest(cur)); err != nil {
					t.Fatal(err)
				}
			}
		case 8:
			r.set(t, k, versioning.Clock{})
		case 9:
			if _, err := r.ReapLocal(k, rng.Uint64()); err != nil { // a stale digest: no-op
				t.Fatal(err)
			}
		}
		clk.advance(time.Millisecond)
		if each != nil {
			each(i)
		}
	}
}

// TestBuild_concurrentWrites builds (and rebuilds) trees while writers
// change keys of the partitions being scanned, and checks the result
// against a build from scratch once the writers are done.
func TestBuild_concurrentWrites(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			c := newCluster(t, clusterOpts{nodes: 1, partitions: 4, nval: 1, cfg: func(c *Config) { c.Segments = 16 }})
			r := c.rep("n1")
			// Restart n1's trees: fill the store first, then build while writing.
			r.ae.Store(nil)
			for i := range 2000 {
				r.write(t, keyN(i), val("base", c.clock.Now()), 1, true)
			}
			cfg := c.cfg
			cfg.Self = "n1"
			a, err := New(cfg, r, c.members, c.net.Join("n1b", nil))
			if err != nil {
				t.Fatal(err)
			}
			r.ae.Store(a)
			run := func(f func()) {
				var wg sync.WaitGroup
				for w := range 2 {
					wg.Go(func() {
						other := &replica{name: "other"}
						st, err := storage.NewStore(storage.NewMemory())
						if err != nil {
							t.Error(err)
							return
						}
						other.store = st
						rng := rand.New(rand.NewPCG(seed, uint64(w)))
						randomOps(goTB{t}, rng, r, other, 2000, 1500, c.clock, nil)
					})
				}
				f()
				wg.Wait()
			}
			run(func() {
				if err := a.Build(t.Context()); err != nil {
					t.Error(err)
				}
			})
			requireTreeMatchesStore(t, r)
			run(func() {
				for p := range a.trees {
					if err := a.rebuild(t.Context(), p, 0, a.geo.segments()-1, true); err != nil {
						t.Error(err)
					}
				}
			})
			requireTreeMatchesStore(t, r)
			if got := a.Status().Built; got != 4 {
				t.Fatalf("Status().Built = %d, want 4", got)
			}
		})
	}
}

// TestDrift_rescanned makes one leaf disagree with the store (as disk rot
// or a write reported after a rebuild would) and checks that an exchange
// notices it on either side and that the rescan repairs it.
func TestDrift_rescanned(t *testing.T) {
	for _, side := range []string{"requester", "server"} {
		t.Run(side, func(t *testing.T) {
			c := newCluster(t, clusterOpts{nodes: 2, partitions: 2, nval: 2})
			n1, n2 := c.rep("n1"), c.rep("n2")
			for i := range 300 {
				cl := versioning.Update(versioning.New(nil, val(fmt.Sprint(i), c.clock.Now())), versioning.Clock{}, 1)
				n1.set(t, keyN(i), cl)
				n2.set(t, keyN(i), cl)
			}
			k := keyN(7)
			drifted := n1
			if side == "server" {
				drifted = n2
			}
			a := drifted.ae.Load()
			p, s := a.geo.partition(k.Hash), a.geo.segment(k.Hash)
			tr := &a.trees[p]
			tr.mu.Lock()
			tr.xorLocked(a.geo, s, 0xbad)
			tr.mu.Unlock()

			st, err := n1.ae.Load().Exchange(t.Context(), p, "n2")
			if err != nil {
				t.Fatal(err)
			}
			if st.Segments != 1 || st.Keys != 0 || st.Pushed+st.Pulled != 0 {
				t.Fatalf("exchange stats %+v, want one differing segment and no keys", st)
			}
			a.suspectMu.Lock()
			_, queued := a.suspects[segRef{p, s}]
			a.suspectMu.Unlock()
			if !queued {
				t.Fatalf("segment %d of partition %d not queued for a rescan", s, p)
			}
			if err := a.repairSuspects(t.Context(), 10); err != nil {
				t.Fatal(err)
			}
			requireConverged(t, n1, n2)
			if got := counter(t, drifted, "dynamod_antientropy_tree_rebuilds_total", "scope", "segment"); got != 1 {
				t.Fatalf("segment rebuilds = %v, want 1", got)
			}
		})
	}
}

// TestDrift_lateOnChange simulates the one race a rebuild without a fence
// cannot see: a write persisted before the scan but reported to OnChange
// only after the rebuild finished. The leaf ends up wrong; the next
// exchange notices and the rescan repairs it.
func TestDrift_lateOnChange(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: 2, partitions: 2, nval: 2})
	n1, n2 := c.rep("n1"), c.rep("n2")
	fill(t, c, 0, 200, 10, n1, n2)
	k := keyN(42)
	old, _ := n1.get(t, k)
	next := versioning.Update(versioning.New(versioning.Join(old), val("next", c.clock.Now())), old, 1)
	n2.set(t, k, next)

	if err := n1.store.Put(k, next, false); err != nil { // persisted, not yet reported
		t.Fatal(err)
	}
	a := n1.ae.Load()
	p := a.geo.partition(k.Hash)
	if err := a.rebuild(t.Context(), p, 0, a.geo.segments()-1, true); err != nil {
		t.Fatal(err)
	}
	a.OnChange(k, old, next) // reported late
	if got, want := copyTree(a, p), freshTree(t, a, n1, p); got.equal(want) {
		t.Fatal("the simulated race left the tree right; the test does not test anything")
	}

	st, err := a.ExchangePeer(t.Context(), "n2")
	if err != nil || st.Keys != 0 || st.Segments != 1 {
		t.Fatalf("exchange: %+v, %v; want one differing segment and no differing keys", st, err)
	}
	if err := a.repairSuspects(t.Context(), 10); err != nil {
		t.Fatal(err)
	}
	requireConverged(t, n1, n2)
}

// TestBuild_skipsCorruptObjects: a corrupt object reads as absent in the
// tree (as the quorum layer reads it as missing) and the scan goes on.
func TestBuild_skipsCorruptObjects(t *testing.T) {
	mem := storage.NewMemory()
	st, err := storage.NewStoreOptions(mem, storage.StoreOptions{CacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{name: "n1", store: st, reg: prometheus.NewRegistry()}
	for i := range 50 {
		r.write(t, keyN(i), val("v", time.Unix(1, 0)), 1, true)
	}
	bad := keyN(10)
	// Overwrite bad's object with garbage under its engine key.
	var rawKey []byte
	err = mem.Scan([]byte{'o'}, []byte{'p'}, func(k, _ []byte) error {
		if len(k) >= 9 && string(k[len(k)-len(bad.Key):]) == bad.Key {
			rawKey = append([]byte(nil), k...)
		}
		return nil
	})
	if err != nil || rawKey == nil {
		t.Fatalf("engine key of %s not found: %v", bad, err)
	}
	if err := mem.Put(rawKey, []byte("garbage"), false); err != nil {
		t.Fatal(err)
	}
	r1, err := ring.New(ring.Config{Partitions: 1, Tokens: 1}, []string{"n1"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultLocalConfig()
	cfg.Self = "n1"
	cfg.Registry = r.reg
	a, err := New(cfg, r, &members{r: r1, down: map[string]bool{}}, nopTransport{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Build(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := a.Status().Keys; got != 49 {
		t.Fatalf("tree covers %d keys, want 49 (one corrupt)", got)
	}
	if got := counter(t, r, "dynamod_antientropy_corrupt_objects_total"); got != 1 {
		t.Fatalf("corrupt objects counted: %v, want 1", got)
	}
}

type nopTransport struct{}

func (nopTransport) Call(context.Context, string, uint8, []byte) ([]byte, error) {
	return nil, fmt.Errorf("no network")
}
