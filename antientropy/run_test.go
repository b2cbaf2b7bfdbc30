package antientropy

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dynamod/dynamod/versioning"
)

// TestRun_convergesRebuildsAndReaps runs the loop of three nodes in fake
// time: replicas diverged on both sides converge, trees are rebuilt when
// due, deleted keys are reaped after the grace, and Run returns when its
// ctx ends (the bubble fails on a goroutine left behind).
func TestRun_convergesRebuildsAndReaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, clusterOpts{nodes: 3, partitions: 8, cfg: func(c *Config) {
			c.Interval = time.Second
			c.RebuildInterval = 2 * time.Hour
		}})
		n1, n2, n3 := c.rep("n1"), c.rep("n2"), c.rep("n3")
		fill(t, c, 0, 600, 20, n1, n2, n3)
		diverge(t, rand.New(rand.NewPCG(5, 5)), c, n1, n2, 600, 40, 20)
		diverge(t, rand.New(rand.NewPCG(6, 6)), c, n3, n1, 600, 40, 20)
		for i := range 30 { // deletes that reached every replica
			cl, _ := n1.get(t, keyN(i+300))
			del := versioning.Update(versioning.New(versioning.Join(cl), tomb(c.clock.Now())), cl, 1)
			for _, r := range c.all() {
				r.set(t, keyN(i+300), del)
			}
		}

		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for _, r := range c.all() {
			wg.Go(func() { r.ae.Load().Run(ctx) })
		}
		time.Sleep(10 * time.Second) // fake time: about ten rounds per node
		synctest.Wait()
		requireConverged(t, n1, n2, n3)
		if got := n1.ae.Load().Status().Tombstones; got != 30 {
			t.Fatalf("tombstones before the grace: %d, want 30", got)
		}

		// Past the grace and the rebuild interval (the injected wall clock).
		rebuilds := counter(t, n1, "dynamod_antientropy_tree_rebuilds_total", "scope", "partition")
		c.clock.advance(25 * time.Hour)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		requireConverged(t, n1, n2, n3)
		for i := range 30 {
			for _, r := range c.all() {
				if _, ok := r.get(t, keyN(i+300)); ok {
					t.Fatalf("%s still holds deleted %s", r.name, keyN(i+300))
				}
			}
		}
		if got := counter(t, n1, "dynamod_antientropy_tree_rebuilds_total", "scope", "partition"); got <= rebuilds {
			t.Fatalf("no scheduled rebuild ran: %v partition rebuilds, %v before", got, rebuilds)
		}
		cancel()
		wg.Wait()
	})
}

// TestRun_rateLimited checks in fake time that an exchange paced at R bytes
// per second takes at least (bytes sent - R) / R seconds, and no time
// without a limit.
func TestRun_rateLimited(t *testing.T) {
	for _, rate := range []int{0, 20000} {
		synctest.Test(t, func(t *testing.T) {
			c := newCluster(t, clusterOpts{nodes: 2, partitions: 1, nval: 2, cfg: func(c *Config) { c.MaxBytesPerSecond = rate }})
			n1, n2 := c.rep("n1"), c.rep("n2")
			fill(t, c, 0, 1000, 100, n1)
			start := time.Now()
			st, err := n1.ae.Load().ExchangePeer(t.Context(), "n2")
			elapsed := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			requireConverged(t, n1, n2)
			if rate == 0 {
				if elapsed != 0 {
					t.Fatalf("unlimited exchange took %v of fake time", elapsed)
				}
				return
			}
			total := float64(st.BytesSent + st.BytesReceived)
			lo := time.Duration((float64(st.BytesSent) - float64(rate)) / float64(rate) * float64(time.Second))
			hi := time.Duration(total/float64(rate)*float64(time.Second)) + time.Second
			t.Logf("rate %d: %v bytes (%d sent) in %v", rate, total, st.BytesSent, elapsed)
			if elapsed < lo || elapsed > hi {
				t.Fatalf("%v bytes at %d B/s took %v, want in [%v, %v]", total, rate, elapsed, lo, hi)
			}
		})
	}
}
