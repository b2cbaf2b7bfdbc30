package clustertest_test

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynamod/dynamod/internal/clustertest"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/transport"
	"github.com/dynamod/dynamod/versioning"
)

// The tests of this file pin hinted hand-off under slow and failing
// targets (issue 12, "Disks and slow peers"; issue 15, "hand-off under a
// slow target, more than one batch of hints").

// hintsFor counts the hints node holds for target.
func hintsFor(t *testing.T, c *clustertest.Cluster, node, target string) int {
	t.Helper()
	n := 0
	if err := c.Node(node).Store().Hints(target, func(string, storage.Key) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHandoff_silentTargetHoldsUpNothing: while a node believed alive does
// not answer, a hand-off to it holds no key lock (a client write of the
// key being delivered completes at once) and the hints for another node
// are delivered meanwhile.
func TestHandoff_silentTargetHoldsUpNothing(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, ReplicaTimeout: 2 * time.Second})
	c.Crash("n2")
	c.Crash("n3")
	keys := make([]string, 40)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
		if _, err := put(t, c, "n1", keys[i], "v1", nil, quorum.WriteOptions{W: quorum.One}); err != nil {
			t.Fatal(err)
		}
	}
	if h2, h3 := hintsFor(t, c, "n1", "n2"), hintsFor(t, c, "n1", "n3"); h2 != len(keys) || h3 != len(keys) {
		t.Fatalf("n1 holds %d hints for n2 and %d for n3, want %d each", h2, h3, len(keys))
	}
	// Hand-off runs in hash order: the first key delivered to n2 is the
	// one with the smallest hash.
	first := slices.MinFunc(keys, func(a, b string) int {
		ha, hb := ring.Hash("b", a), ring.Hash("b", b)
		switch {
		case ha < hb:
			return -1
		case ha > hb:
			return 1
		}
		return 0
	})
	var silent atomic.Bool
	silent.Store(true)
	calling := make(chan struct{}, 1)
	c.Net.Hook(func(m *transport.Msg) bool {
		if m.To != "n2" || m.Response || !silent.Load() {
			return true
		}
		if m.Kind == quorum.KindHandoff {
			select {
			case calling <- struct{}{}:
			default:
			}
		}
		return false // n2 is paused: it takes requests and never answers
	})
	c.Restart("n2")
	c.Restart("n3")
	select {
	case <-calling:
	case <-time.After(5 * time.Second):
		t.Fatal("n1 never handed off to n2")
	}
	start := time.Now()
	if _, err := put(t, c, "n1", first, "v2", nil, quorum.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("a PUT of the key being handed off to a silent node took %v, want well under the replica timeout (2s)", took)
	}
	eventually(t, 3*time.Second, func() string {
		if n := hintsFor(t, c, "n1", "n3"); n != 0 {
			return fmt.Sprintf("n1 still holds %d hints for n3 while n2 is silent", n)
		}
		return ""
	})
	silent.Store(false)
	c.RequireConverged(deadline(t, 20*time.Second), "b", keys)
	eventually(t, 10*time.Second, func() string {
		if n := c.Node("n1").Store().HintCount(); n != 0 {
			return fmt.Sprintf("n1 holds %d hints", n)
		}
		return ""
	})
}

// TestHandoff_moreThanOneBatch: more hints than one round reads (4 096 per
// target) for a node believed alive that refuses every call do not keep
// another node's hints waiting, and are all delivered once it answers.
func TestHandoff_moreThanOneBatch(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	c.Crash("n2")
	c.Believe("n1", "n2", true) // n1's failure detector lags: calls to n2 fail at once
	st := c.Node("n1").Store()
	stash := func(key, target string) {
		k := storage.Key{Hash: ring.Hash("b", key), Bucket: "b", Key: key}
		cl := versioning.Update(versioning.New(nil, versioning.Value{Data: []byte(key), LastModified: 1}), versioning.Clock{}, 0x1234)
		if err := st.Put(k, cl, false); err != nil {
			t.Fatal(err)
		}
		if err := st.PutHint(target, k, false); err != nil {
			t.Fatal(err)
		}
	}
	const many = 5000
	var all []string
	for i := range many {
		all = append(all, fmt.Sprint("k", i))
		stash(all[i], "n2")
	}
	for i := range 50 {
		stash(fmt.Sprint("t", i), "n3")
	}
	eventually(t, 5*time.Second, func() string {
		if n := hintsFor(t, c, "n1", "n3"); n != 0 {
			return fmt.Sprintf("n1 still holds %d hints for n3 while n2 refuses %d", n, hintsFor(t, c, "n1", "n2"))
		}
		return ""
	})
	start := time.Now()
	c.ForgetBeliefs()
	c.Restart("n2")
	eventually(t, 60*time.Second, func() string {
		if n := hintsFor(t, c, "n1", "n2"); n != 0 {
			return fmt.Sprintf("n1 still holds %d of %d hints for n2", n, many)
		}
		return ""
	})
	t.Logf("%d hints delivered in %v", many, time.Since(start))
	got := 0
	for _, k := range all {
		if cl, ok := c.LocalState("n2", "b", k); ok && values(cl)[k] {
			got++
		}
	}
	if got != many {
		t.Fatalf("n2 holds %d of the %d keys handed off", got, many)
	}
}
