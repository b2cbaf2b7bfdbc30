package clustertest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/dynamod/dynamod/internal/clustertest"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/transport"
)

// TestCluster_lateAckKeepsHint: a replica whose write fails after the
// coordinator has answered (its message is lost; the call fails at the
// replica timeout) still gets a hint from the coordinator, kept after the
// answer by whoever receives that late failure.
func TestCluster_lateAckKeepsHint(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, NoHandoff: true})
	c.Net.Hook(func(m *transport.Msg) bool {
		return !(m.To == "n3" && m.Kind == quorum.KindReplicate && !m.Response)
	})
	const n = 5
	for i := range n {
		start := time.Now()
		if _, err := put(t, c, "n1", fmt.Sprintf("k%d", i), "v", nil, quorum.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 400*time.Millisecond {
			t.Logf("write %d took %v: it may have waited for the lost message", i, d)
		}
	}
	waitFor(t, 10*time.Second, func() string {
		if h := c.Node("n1").Store().HintCount(); h != n {
			return fmt.Sprintf("n1 holds %d hints, want one per write to n3 (%d)", h, n)
		}
		return ""
	})
}

// TestCluster_lateReplyRepairs: a read that asks every replica answers at
// R replies; the reply of a stale replica that comes later is merged with
// the others and read-repairs it, after the answer.
func TestCluster_lateReplyRepairs(t *testing.T) {
	// A reply is awaited for ReplicaTimeout: n3's comes late, not never.
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, NoHandoff: true, SpeculativeRead: time.Minute, ReplicaTimeout: 5 * time.Second})
	missOnN3(t, c)
	every := 1.0
	if err := c.Node("n1").SetBucketProps("b", quorum.Props{ReadRepairChance: &every}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() string {
		if got := c.Node("n1").BucketProps("b").ReadRepairChance; got == nil || *got != 1 {
			return "n1 does not read every replica yet"
		}
		return ""
	})
	// n3's answers reach n1 late: the read has answered by then.
	const late = time.Second // far beyond the read's own time, also under -race
	c.Net.SetLinkOneWay("n3", "n1", transport.Link{Delay: late})
	repairs := fmt.Sprintf("request.%d", quorum.KindRepair)
	before := c.Net.Stats()[repairs]
	start := time.Now()
	obj, err := get(t, c, "n1", "k", quorum.ReadOptions{})
	if err != nil || !values(obj.Clock)["v"] {
		t.Fatalf("get: %v %v", obj, err)
	}
	if d := time.Since(start); d >= late {
		t.Fatalf("the read took %v: it waited for n3's late reply", d)
	}
	c.RequireConverged(deadline(t, 5*time.Second), "b", []string{"k"})
	if got := c.Net.Stats()[repairs] - before; got != 1 {
		t.Errorf("%d repair messages, want 1 (to n3)", got)
	}
}
