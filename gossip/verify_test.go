package gossip

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// verifier is a VerifyMember that passes the names it is told to and
// records every call.
type verifier struct {
	mu    sync.Mutex
	pass  map[string]bool
	calls map[string]int
}

func (v *verifier) verify(_ context.Context, name, rpc string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls[name]++
	if !v.pass[name] {
		return errors.New("no certificate for " + name)
	}
	return nil
}

func (v *verifier) allow(name string) {
	v.mu.Lock()
	v.pass[name] = true
	v.mu.Unlock()
}

func (v *verifier) called(name string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.calls[name]
}

func memberNames(g *Gossip) []string {
	var names []string
	for _, m := range g.Members() {
		names = append(names, m.Name)
	}
	return names
}

// TestGossip_verifyMember: a member that fails verification never enters
// the state of a node that verifies (though it gossips with the key), and
// enters it as soon as it passes; members already known are not verified
// again.
func TestGossip_verifyMember(t *testing.T) {
	c := newCluster(t)
	v := &verifier{pass: map[string]bool{"b": true}, calls: map[string]int{}}
	cfg := c.config("a")
	cfg.VerifyMember = v.verify
	a := c.start(cfg)
	cfg = c.config("b")
	cfg.Join = []string{gossipAddr(a)}
	b := c.start(cfg)
	waitFor(t, 10*time.Second, "a admits b", func() error { return seesAlive(a, "a", "b") })

	cfg = c.config("x")
	cfg.Join = []string{gossipAddr(a)}
	x := c.start(cfg)
	// x gossips with a and b (b does not verify), but a holds its entry.
	waitFor(t, 10*time.Second, "b hears of x", func() error {
		if !slices.Contains(memberNames(b), "x") {
			return errors.New("b does not know x")
		}
		return nil
	})
	waitFor(t, 10*time.Second, "a tries x", func() error {
		if v.called("x") == 0 {
			return errors.New("x not verified yet")
		}
		return nil
	})
	if names := memberNames(a); slices.Contains(names, "x") {
		t.Fatalf("a admitted the unverified x: %v", names)
	}
	// Once x passes, it is admitted on its next delivery.
	v.allow("x")
	waitFor(t, 15*time.Second, "a admits x once verified", func() error {
		if err := seesAlive(a, "a", "b", "x"); err != nil {
			return fmt.Errorf("%w (x verified %d times)", err, v.called("x"))
		}
		return nil
	})
	if n := v.called("b"); n != 1 {
		t.Errorf("b verified %d times, want once", n)
	}
	_ = x
}
