package quorum

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestBGContext_shared: operations started within bgShare of each other
// share one background context, bounded by ReplicaTimeout; a later one
// gets a new one; Close ends them all.
func TestBGContext_shared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newSoloCoordinator(t)
		cfg := c.cfg
		start := time.Now()
		a := c.bgContext()
		time.Sleep(bgShare / 2)
		b := c.bgContext()
		if a != b {
			t.Fatal("two operations within bgShare got different background contexts")
		}
		if a.Err() != nil {
			t.Fatalf("shared context ended within bgShare: %v", a.Err())
		}
		if d, ok := a.Deadline(); !ok || !d.Equal(start.Add(cfg.ReplicaTimeout)) {
			t.Fatalf("deadline %v, %v; want ReplicaTimeout after the first", d, ok)
		}
		time.Sleep(bgShare)
		later := c.bgContext()
		if later == a {
			t.Fatal("an operation after bgShare got the old context")
		}
		time.Sleep(cfg.ReplicaTimeout)
		if !errors.Is(a.Err(), context.DeadlineExceeded) {
			t.Fatalf("first context after ReplicaTimeout: %v", a.Err())
		}
		fresh := c.bgContext()
		c.Close()
		if !errors.Is(fresh.Err(), context.Canceled) {
			t.Fatalf("background context after Close: %v", fresh.Err())
		}
	})
}
