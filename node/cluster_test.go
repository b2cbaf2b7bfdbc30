package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/dynamod/dynamod/client"
	"github.com/dynamod/dynamod/internal/clustertest"
	"github.com/dynamod/dynamod/node"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/transfer"
	"github.com/dynamod/dynamod/transport"
	"github.com/dynamod/dynamod/versioning"
)

// strictRoundTrip decodes raw into v with unknown fields disallowed,
// encodes v again and wants the same document: a field the server sends
// that the client type lacks fails the decode, and one the client type
// has that the server does not send fails the comparison.
func strictRoundTrip(t *testing.T, what string, raw []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, raw)
	}
	again, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(again, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%s does not round-trip:\nserver %s\nclient %s", what, raw, again)
	}
}

// TestCluster_statusRoundTrips reads real nodes' /cluster and
// /cluster/preflist documents through client.ClusterStatus and
// client.Preflist with unknown fields disallowed, until it has seen every
// optional part present (anti-entropy peers, pending transfers, pending
// owners). With TestStatusTypesMatch, which checks the parts node copies
// from other packages, the shared types and what the server sends cannot
// drift apart.
func TestCluster_statusRoundTrips(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, AntiEntropy: true})
	// The joining node asks for pages that never arrive: its transfers
	// stay pending for as long as the test looks.
	c.Net.Hook(func(m *transport.Msg) bool { return m.Kind != transfer.KindPage })
	joined := c.Join()

	var sawPeers, sawTransfers, sawPending bool
	deadline := time.Now().Add(20 * time.Second)
	for !(sawPeers && sawTransfers && sawPending) {
		if time.Now().After(deadline) {
			t.Fatalf("never saw every part: anti-entropy peers %v, transfers %v, pending owners %v", sawPeers, sawTransfers, sawPending)
		}
		for _, name := range c.Names() {
			n := c.Node(name)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			raw, err := n.Cluster(ctx)
			cancel()
			if err != nil {
				t.Fatalf("%s: Cluster: %v", name, err)
			}
			var st client.ClusterStatus
			strictRoundTrip(t, name+"'s /cluster", raw, &st)
			if st.Node != name || len(st.Members) != 4 {
				t.Fatalf("%s: /cluster names %q with %d members", name, st.Node, len(st.Members))
			}
			checkRing(t, name, n, &st)
			if ae := st.AntiEntropy; ae != nil && len(ae.Peers) > 0 {
				sawPeers = true
			}
			for _, tr := range st.PendingTransfers {
				if tr.To == joined {
					sawTransfers = true
				}
			}
			for i := range 32 {
				raw, err := n.Preflist("b", string(rune('a'+i)))
				if err != nil {
					t.Fatalf("%s: Preflist: %v", name, err)
				}
				var pl client.Preflist
				strictRoundTrip(t, name+"'s preflist", raw, &pl)
				if len(pl.Pending) > 0 {
					sawPending = true
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkRing: /cluster's ring names, for every partition, the first
// primary of that partition's preflist (the preflist of a key hashing
// into it), and only members.
func checkRing(t *testing.T, name string, n *node.Node, st *client.ClusterStatus) {
	t.Helper()
	if len(st.Ring) != st.Partitions {
		t.Fatalf("%s: ring has %d entries for %d partitions", name, len(st.Ring), st.Partitions)
	}
	for p, owner := range st.Ring {
		if _, ok := st.Member(owner); !ok {
			t.Fatalf("%s: partition %d owned by %q, not a member", name, p, owner)
		}
	}
	for i := range 32 {
		raw, err := n.Preflist("ring", string(rune('a'+i)))
		if err != nil {
			t.Fatalf("%s: Preflist: %v", name, err)
		}
		var pl client.Preflist
		if err := json.Unmarshal(raw, &pl); err != nil {
			t.Fatal(err)
		}
		// The ring shows the target ring's owner; a preflist during a
		// transfer may list a holder standing in for it first.
		if len(pl.Pending) == 0 && pl.Primaries[0].Node != st.Ring[pl.Partition] {
			t.Fatalf("%s: partition %d: ring says %s, preflist of key %q starts with %s",
				name, pl.Partition, st.Ring[pl.Partition], pl.Key, pl.Primaries[0].Node)
		}
	}
}

// TestCluster_statsSampled: a running node samples its requests and its
// registry's counters each second into /cluster/stats: a quorum failure
// (a w=all write with a replica down) shows in quorum_failures.
func TestCluster_statsSampled(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	n := c.Node("n1")
	c.Crash("n3")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	_, err := n.Put(ctx, "b", "k", nil, versioning.Value{Data: []byte("v")}, quorum.WriteOptions{W: quorum.All})
	cancel()
	if !errors.Is(err, quorum.ErrUnavailable) {
		t.Fatalf("w=all with n3 down: %v, want unavailable", err)
	}
	n.ObserveRequest("kv_object", "PUT", 503, 3*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for {
		raw, err := n.Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var st client.Stats
		strictRoundTrip(t, "/cluster/stats", raw, &st)
		if sum(st.Counters["quorum_failures"]) >= 1 && sum(st.Ops["put"].Errors) == 1 {
			if st.Node != "n1" || st.StepSeconds != 1 || st.End.IsZero() {
				t.Fatalf("stats document %s", raw)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sample shows the failure after 10 s: %s", raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sum(xs []uint64) uint64 {
	var s uint64
	for _, x := range xs {
		s += x
	}
	return s
}

// TestCluster_transfersToSelfAndPeers: with two nodes joining at once, a
// joiner's /cluster lists transfers to itself (its own progress) and to
// the other joiner (asked over the network, concurrently): the two kinds
// fill one map, which must not race (a node once died of "concurrent map
// writes" here; -race reports it in this test).
func TestCluster_transfersToSelfAndPeers(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	c.Net.Hook(func(m *transport.Msg) bool { return m.Kind != transfer.KindPage })
	j1, j2 := c.Join(), c.Join()
	deadline := time.Now().Add(20 * time.Second)
	seen := 0 // views listing transfers to both joiners
	for seen < 20 {
		for _, name := range []string{j1, j2} {
			to := map[string]bool{}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			raw, err := c.Node(name).Cluster(ctx)
			cancel()
			if err != nil {
				t.Fatalf("%s: Cluster: %v", name, err)
			}
			var st client.ClusterStatus
			strictRoundTrip(t, name+"'s /cluster", raw, &st)
			for _, tr := range st.PendingTransfers {
				to[tr.To] = true
			}
			if to[j1] && to[j2] {
				seen++
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the joiners' /cluster listed transfers to both of them %d times in 20 s, want 20", seen)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
