package clustertest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dynamod/dynamod/internal/clustertest"
)

// TestDetector_writesThroughWindow: n2's host loses power (its calls are
// lost, not refused) and the others go on believing it alive for a while.
// Writes during that window send n2 requests that time out, yet every one
// is acknowledged by the other replicas, which keep hints for n2; once the
// crash is noticed, fallbacks take n2's place. After the restart hand-off
// alone (no reads, no anti-entropy) brings n2 up to date: every replica of
// every key converges and no acknowledged write is lost.
func TestDetector_writesThroughWindow(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{
		Nodes: 5, DetectDelay: 2 * time.Second, SilentCrash: true, ReplicaTimeout: 200 * time.Millisecond,
	})
	c.Crash("n2")
	if !c.Believed("n1", "n2") {
		t.Fatal("n1 noticed the crash at once: no window to test")
	}
	w := clustertest.Workload{Bucket: "w", Keys: 20, Ops: 60, Timeout: 3 * time.Second}
	during := c.RunWorkload(t.Context(), w)
	lost := 0
	for k, n := range c.Net.Stats() {
		if strings.HasPrefix(k, "request.") && strings.HasSuffix(k, ".vetoed") {
			lost += n
		}
	}
	if lost == 0 {
		t.Fatal("no request to n2 was lost: the writes did not run while n2 was believed alive")
	}
	if got := len(during.Acked()); got != w.Ops {
		t.Fatalf("%d of %d writes acknowledged during the window; two of three replicas answer every key: %q", got, w.Ops, during.Failures())
	}
	eventually(t, 5*time.Second, func() string {
		for _, v := range []string{"n1", "n3", "n4", "n5"} {
			if c.Believed(v, "n2") {
				return v + " still believes n2 alive"
			}
		}
		return ""
	})
	w.Seed = 99
	after := c.RunWorkload(t.Context(), w)
	if got := len(after.Acked()); got != w.Ops {
		t.Fatalf("%d of %d writes acknowledged once n2 is known dead (fallbacks stand in): %q", got, w.Ops, after.Failures())
	}
	c.Restart("n2")
	keys := append(during.Keys(), after.Keys()...)
	c.RequireConverged(deadline(t, 10*time.Second), "w", keys)
	c.RequireNoLostWrites(during, after)
}
