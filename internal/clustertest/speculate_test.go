package clustertest_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dynamod/dynamod/internal/clustertest"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/transport"
)

// TestCluster_adaptiveSpeculation: with the adaptive speculation delay, a
// replica whose answers take 10 to 30 ms (far below the fixed 50 ms) makes
// the slowest of the reads that ask it ask the third replica too, once the
// coordinator has measured its round trips; with the fixed delay none
// would. It counts the replica reads sent: each default read asks one
// remote replica, every tenth (read_repair_chance) asks both, and every
// read that speculates asks one more.
func TestCluster_adaptiveSpeculation(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, AdaptiveSpeculation: true})
	slow := firstAsked(t, c)
	c.Net.SetLinkOneWay(slow, "n1", transport.Link{Delay: 10 * time.Millisecond, Jitter: 20 * time.Millisecond})
	gets := fmt.Sprintf("request.%d", quorum.KindGet)
	reads := func(n int) int {
		t.Helper()
		before := c.Net.Stats()[gets]
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for w := range 10 {
			wg.Go(func() {
				for i := w; i < n; i += 10 {
					obj, err := get(t, c, "n1", "k", quorum.ReadOptions{})
					if err == nil && !values(obj.Clock)["v"] {
						err = fmt.Errorf("read %v", values(obj.Clock))
					}
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if err := c.Net.Drain(deadline(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		return c.Net.Stats()[gets] - before
	}
	reads(300) // the coordinator measures the slow replica's round trips
	const n = 300
	sent := reads(n)
	plain := n + n/10 // one remote read each, one more for every tenth
	t.Logf("%d reads sent %d replica reads: %d speculated", n, sent, sent-plain)
	if sent-plain < 5 {
		t.Fatalf("%d reads sent %d replica reads, want at least %d (some speculating past a 10-30 ms replica)", n, sent, plain+5)
	}
}
