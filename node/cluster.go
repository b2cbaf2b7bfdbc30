package node

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dynamod/dynamod/antientropy"
	"github.com/dynamod/dynamod/client"
	dhttp "github.com/dynamod/dynamod/http"
	"github.com/dynamod/dynamod/ownership"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/transfer"
)

// Cluster implements http.Backend: the /cluster document, a
// client.ClusterStatus.
func (n *Node) Cluster(ctx context.Context) (json.RawMessage, error) {
	return json.Marshal(n.clusterStatus(ctx))
}

// clusterStatus is this node's view of the cluster.
func (n *Node) clusterStatus(ctx context.Context) *client.ClusterStatus {
	v := n.view.Load()
	r := v.Target()
	nval := n.cfg.Defaults.NVal
	doc := &client.ClusterStatus{
		Node: n.cfg.Name, Partitions: r.Config().Partitions, Tokens: r.Config().Tokens,
		DefaultNVal: nval, UnderReplicated: len(r.Members()) < nval, Steady: v.Steady(),
		HintsPending: n.store.HintCount(), PendingTransfers: []client.Transfer{},
		Storage:  client.StorageHealth(n.store.Health()),
		Warnings: append([]string{}, n.cfg.Warnings...),
	}
	for _, p := range n.transfers(ctx, v) {
		doc.PendingTransfers = append(doc.PendingTransfers, client.Transfer(p))
	}
	if n.ae != nil {
		doc.AntiEntropy = antiEntropyStatus(n.ae.Status())
	}
	owned := map[string]int{}
	doc.Ring = make([]string, r.Config().Partitions)
	for p := range r.Config().Partitions {
		pl := r.Preflist(p, nval)
		if len(pl) > 0 {
			doc.Ring[p] = pl[0]
		}
		for _, m := range pl {
			owned[m]++
		}
	}
	for _, m := range n.members.Members() {
		doc.Members = append(doc.Members, clusterMember(m, owned[m.Name]))
	}
	return doc
}

// clusterMember is m as /cluster shows it, a primary of primaries
// partitions.
func clusterMember(m MemberInfo, primaries int) client.ClusterMember {
	return client.ClusterMember{
		Name: m.Name, Status: m.Status, Liveness: m.Liveness,
		RPCAddr: m.RPCAddr, HTTPAddr: m.HTTPAddr, GossipAddr: m.Gossip,
		Settled: m.Settled, PrimaryPartitions: primaries,
	}
}

// antiEntropyStatus converts anti-entropy's status for /cluster. A field
// added to antientropy.Status must be added here and to
// client.AntiEntropyStatus (TestStatusTypesMatch checks).
func antiEntropyStatus(st antientropy.Status) *client.AntiEntropyStatus {
	out := &client.AntiEntropyStatus{
		Self: st.Self, Partitions: st.Partitions, Built: st.Built, Segments: st.Segments,
		TreeBytes: st.TreeBytes, BytesPerTree: st.BytesPerTree, Keys: st.Keys, Tombstones: st.Tombstones,
		Exchanges: st.Exchanges, Failures: st.Failures, KeysPushed: st.KeysPushed, KeysPulled: st.KeysPulled,
		BytesSent: st.BytesSent, BytesReceived: st.BytesReceived, Reaped: st.Reaped, Rebuilds: st.Rebuilds,
	}
	if st.Peers != nil {
		out.Peers = make([]client.AntiEntropyPeer, 0, len(st.Peers))
	}
	for _, p := range st.Peers {
		out.Peers = append(out.Peers, client.AntiEntropyPeer(p))
	}
	return out
}

// transfers lists the view's pending transfers, with the progress their
// receivers report (this node's own, and each live receiver's, asked with
// a short timeout; a receiver that does not answer shows "pending").
func (n *Node) transfers(ctx context.Context, v *ownership.View) []transfer.Progress {
	pending := v.Transfers(n.xfer.N())
	progress := map[[2]any]transfer.Progress{} // (receiver, partition)
	var mu sync.Mutex
	var wg sync.WaitGroup
	asked := map[string]bool{}
	for _, t := range pending {
		if asked[t.To] {
			continue
		}
		asked[t.To] = true
		if t.To == n.cfg.Name {
			local := n.xfer.Progress()
			mu.Lock() // receivers asked earlier in this loop write too
			for _, p := range local {
				progress[[2]any{t.To, p.Partition}] = p
			}
			mu.Unlock()
			continue
		}
		if !(*nodeMembers)(n).Alive(t.To) {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			ps, err := n.xfer.PeerProgress(cctx, t.To)
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, p := range ps {
				progress[[2]any{t.To, p.Partition}] = p
			}
		})
	}
	wg.Wait()
	out := []transfer.Progress{}
	for _, t := range pending {
		if p, ok := progress[[2]any{t.To, t.Partition}]; ok {
			out = append(out, p)
			continue
		}
		from := ""
		if len(t.From) > 0 {
			from = t.From[0]
		}
		out = append(out, transfer.Progress{Partition: t.Partition, From: from, To: t.To, State: "pending"})
	}
	return out
}

// Preflist implements http.Backend: the /cluster/preflist document, a
// client.Preflist.
func (n *Node) Preflist(bucket, key string) (json.RawMessage, error) {
	v := n.view.Load()
	r := v.Target()
	nval := n.BucketProps(bucket).NVal
	h := ring.Hash(bucket, key)
	p := r.Partition(h)
	walk, cnt, pending := v.Place(p, nval)
	doc := client.Preflist{Bucket: bucket, Key: key, Hash: fmt.Sprintf("%016x", h), Partition: p, NVal: nval, Replicas: cnt,
		Primaries: []client.PreflistEntry{}, Fallbacks: []client.PreflistEntry{}}
	alive := (*nodeMembers)(n).Alive
	for _, m := range walk[:cnt] {
		doc.Primaries = append(doc.Primaries, client.PreflistEntry{Node: m, Alive: alive(m)})
	}
	for _, m := range pending {
		doc.Pending = append(doc.Pending, client.PreflistEntry{Node: m, Alive: alive(m)})
	}
	targets, _ := quorum.Targets(walk, cnt, alive)
	for _, t := range targets {
		if t.HintFor != "" {
			doc.Fallbacks = append(doc.Fallbacks, client.PreflistEntry{Node: t.Node, Alive: true, HintFor: t.HintFor})
		}
	}
	return json.Marshal(doc)
}

// registerGauges exports node-level gauges.
func (n *Node) registerGauges() {
	n.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dynamod_quorum_hints_pending", Help: "Hints stored on this node, not yet delivered.",
	}, func() float64 { return float64(n.store.HintCount()) }))
	n.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dynamod_ring_members", Help: "Members in this node's ring.",
	}, func() float64 { return float64(len(n.ring().Members())) }))
	n.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dynamod_transfers_pending", Help: "Partitions some member still has to receive, in this node's view.",
	}, func() float64 { return float64(len(n.view.Load().Transfers(n.xfer.N()))) }))
}

// Find implements http.Backend with anti-entropy's finders over this
// node's replicas.
func (n *Node) Find(ctx context.Context, what string, q dhttp.FindQuery) (json.RawMessage, error) {
	r := n.ring()
	aq := antientropy.Query{Partition: q.Partition, Limit: q.Limit}
	if q.Partition < 0 {
		aq.Partition = antientropy.AllPartitions
	} else if q.Partition >= r.Config().Partitions {
		return nil, fmt.Errorf("%w: partition %d out of range (0..%d)", quorum.ErrBadRequest, q.Partition, r.Config().Partitions-1)
	}
	var doc any
	var err error
	switch what {
	case "siblings":
		doc, err = antientropy.FindSiblings(ctx, n.coord, r, aq, q.Min)
	case "large":
		doc, err = antientropy.FindLarge(ctx, n.coord, r, aq, q.Bytes)
	case "tombstones":
		doc, err = antientropy.CountTombstones(ctx, n.coord, r, aq)
	default:
		return nil, fmt.Errorf("%w: unknown finder %q (want siblings, large or tombstones)", quorum.ErrBadRequest, what)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}
