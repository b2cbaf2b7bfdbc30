package clustertest_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dynamod/dynamod/client"
	"github.com/dynamod/dynamod/internal/clustertest"
	"github.com/dynamod/dynamod/node"
	"github.com/dynamod/dynamod/pbs"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/transport"
	"github.com/dynamod/dynamod/versioning"
)

// Latencies the memory network adds in TestPBS_liveEstimate: n1's requests
// take U[2, 42) ms to reach n2 and n3, their answers U[0, 4) ms back.
var (
	pbsRequest  = transport.Link{Delay: 2 * time.Millisecond, Jitter: 40 * time.Millisecond}
	pbsResponse = transport.Link{Jitter: 4 * time.Millisecond}
)

// TestPBS_liveEstimate: a node that coordinates writes and reads over a
// network with known latency distributions measures them, and its
// /cluster/pbs estimate matches, within 5 points at every t, the model
// run on samples drawn from those distributions themselves. Its curves
// behave as the model says: with R = W = 1 a read 0 ms after the ack is
// stale with probability 2/3 and reads get fresher with t; with R+W > N
// every read is fresh at every t.
func TestPBS_liveEstimate(t *testing.T) {
	// The replica timeout is far above the injected latencies: a loaded
	// machine (16 writers under -race) once took 500 ms for a call, and
	// this test is about what the calls measure, not about timeouts.
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Seed: clustertest.Seed(t), ReplicaTimeout: 10 * time.Second})
	for _, peer := range []string{"n2", "n3"} {
		c.Net.SetLinkOneWay("n1", peer, pbsRequest)
		c.Net.SetLinkOneWay(peer, "n1", pbsResponse)
	}
	n1 := c.Node("n1")
	ctx := t.Context()

	// Writes and all-replica reads through n1 (N = 3 on 3 nodes: n1
	// coordinates every write), until every kind has enough samples.
	const want = 2000
	enough := func() bool {
		snap := n1.Coordinator().Latencies().Snapshot(time.Now())
		for k := pbs.WriteRequest; k <= pbs.ReadResponse; k++ {
			if snap.Count(k) < want {
				return false
			}
		}
		return true
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	deadline := time.Now().Add(60 * time.Second)
	for w := range 16 {
		wg.Go(func() {
			for i := 0; i < 400 && time.Now().Before(deadline) && !enough(); i++ {
				key := fmt.Sprintf("k%d-%d", w, i)
				_, err := n1.Put(ctx, "b", key, nil, versioning.Value{Data: []byte("v")}, quorum.WriteOptions{W: quorum.All})
				if err == nil {
					_, err = n1.Get(ctx, "b", key, quorum.ReadOptions{R: quorum.All})
				}
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if failed != nil {
		t.Fatal(failed)
	}
	doc := pbsDoc(t, n1)
	s := doc.Samples
	if s.WriteRequest < want || s.WriteAck < want || s.ReadRequest < want || s.ReadResponse < want {
		t.Fatalf("samples %+v, want %d of each within the bounded workload", s, want)
	}
	if doc.N != 3 || doc.R != 2 || doc.W != 2 || len(doc.Curves) != 9 || doc.Curves[0].R != 2 || doc.Curves[0].W != 2 {
		t.Fatalf("n=%d r=%d w=%d with %d curves, the first r=%d w=%d: want 3 2 2, 9 curves, the bucket's first",
			doc.N, doc.R, doc.W, len(doc.Curves), doc.Curves[0].R, doc.Curves[0].W)
	}

	// The model on the injected distributions, drawn directly. The
	// in-process network's own scheduling adds a little to every message
	// (more on a loaded machine): each distribution is shifted by how far
	// the measured median lies above the injected one.
	live := n1.Coordinator().Latencies().Snapshot(time.Now())
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func(k pbs.Kind, l transport.Link) []time.Duration {
		measured := slices.Sorted(slices.Values(live.Of(k)))
		shift := max(measured[len(measured)/2]-(l.Delay+l.Jitter/2), 0)
		if shift > 10*time.Millisecond {
			t.Errorf("%v: measured median %v, injected %v: the samples do not reflect the network", k, measured[len(measured)/2], l.Delay+l.Jitter/2)
		}
		t.Logf("%v: median %v, %v above the injected one", k, measured[len(measured)/2], shift)
		out := make([]time.Duration, 20000)
		for i := range out {
			out[i] = shift + l.Delay + time.Duration(rng.Int64N(int64(l.Jitter)))
		}
		return out
	}
	snap := pbs.NewSnapshot(draw(pbs.WriteRequest, pbsRequest), draw(pbs.WriteAck, pbsResponse),
		draw(pbs.ReadRequest, pbsRequest), draw(pbs.ReadResponse, pbsResponse))
	var ts []time.Duration
	for _, p := range doc.Curves[0].Visibility {
		ts = append(ts, time.Duration(p.TMS*float64(time.Millisecond)))
	}
	props := quorum.DefaultProps()
	model := pbs.Model{N: 3, Coordinators: 3, FullReads: *props.ReadRepairChance, Speculative: quorum.DefaultSpeculativeRead}
	direct := pbs.Estimate(model, snap, ts, 20000, rng)
	worst, where := 0.0, ""
	defer func() { t.Logf("largest difference from the model on the injected latencies: %.3f (%s)", worst, where) }()
	for _, live := range doc.Curves {
		var ref []float64
		for _, d := range direct {
			if d.R == live.R && d.W == live.W {
				ref = d.P
			}
		}
		if live.Strict != (live.R+live.W > 3) {
			t.Errorf("r=%d w=%d: strict %v", live.R, live.W, live.Strict)
		}
		for i, p := range live.Visibility {
			if d := math.Abs(p.P - ref[i]); d > worst {
				worst, where = d, fmt.Sprintf("r=%d w=%d t=%vms: %.3f vs %.3f", live.R, live.W, p.TMS, p.P, ref[i])
			}
			if math.Abs(p.P-ref[i]) > 0.05 {
				t.Errorf("r=%d w=%d t=%vms: live estimate %.3f, model on the injected latencies %.3f", live.R, live.W, p.TMS, p.P, ref[i])
			}
			if live.Strict && p.P != 1 {
				t.Errorf("r=%d w=%d t=%vms: p=%v, want 1 (R+W > N)", live.R, live.W, p.TMS, p.P)
			}
		}
	}

	// R = W = 1: stale at 0 ms unless the reader wrote (1 in 3), fresher
	// as t grows, fresh once t passes every request latency.
	for _, cv := range doc.Curves {
		if cv.R != 1 || cv.W != 1 {
			continue
		}
		v := cv.Visibility
		if v[0].P >= 0.5 {
			t.Errorf("r=1 w=1 t=0: p=%v, want about 1/3", v[0].P)
		}
		for i := 1; i < len(v); i++ {
			if v[i].P < v[i-1].P {
				t.Errorf("r=1 w=1: p falls from %v at %vms to %v at %vms", v[i-1].P, v[i-1].TMS, v[i].P, v[i].TMS)
			}
		}
		if last := v[len(v)-1]; last.P < 0.99 {
			t.Errorf("r=1 w=1 t=%vms: p=%v, want about 1", last.TMS, last.P)
		}
		if cv.KStaleness[0].P >= 1 || cv.ExpectedVersionsBehind <= 0 {
			t.Errorf("r=1 w=1: k-staleness %v, expected versions behind %v", cv.KStaleness, cv.ExpectedVersionsBehind)
		}
	}
}

// TestPBS_noSamples: a node that coordinated nothing answers its counts at
// zero and no curves, and a bucket's own quorums.
func TestPBS_noSamples(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Seed: clustertest.Seed(t)})
	doc := pbsDoc(t, c.Node("n2"))
	if doc.Node != "n2" || doc.N != 3 || doc.R != 2 || doc.W != 2 || doc.Samples != (client.PBSSamples{}) ||
		doc.Curves == nil || len(doc.Curves) != 0 || doc.Trials != 0 || doc.WindowSeconds != 300 {
		t.Errorf("document %+v, want n2's with no samples and no curves", doc)
	}
}

// TestPBS_bucketAndSingleNode: the estimate is for the bucket's own N, R
// and W; a one-node cluster, whose reads are all fresh, needs no samples.
func TestPBS_bucketAndSingleNode(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Seed: clustertest.Seed(t)})
	n2 := c.Node("n2")
	if err := n2.SetBucketProps("x", quorum.Props{NVal: 2, R: quorum.One, W: quorum.All}); err != nil {
		t.Fatal(err)
	}
	if doc := pbsDocOf(t, n2, "x"); doc.Bucket != "x" || doc.N != 2 || doc.R != 1 || doc.W != 2 {
		t.Errorf("bucket x: n=%d r=%d w=%d, want 2 1 2", doc.N, doc.R, doc.W)
	}

	solo := clustertest.Start(t, clustertest.Options{Nodes: 1, Seed: clustertest.Seed(t)})
	doc := pbsDoc(t, solo.Node("n1"))
	if doc.N != 1 || len(doc.Curves) != 1 || doc.Samples != (client.PBSSamples{}) {
		t.Fatalf("one node: %+v, want one curve without samples", doc)
	}
	for _, p := range doc.Curves[0].Visibility {
		if p.P != 1 {
			t.Errorf("one node, t=%vms: p=%v, want 1", p.TMS, p.P)
		}
	}
}

func pbsDoc(t *testing.T, n *node.Node) client.PBS { return pbsDocOf(t, n, "") }

func pbsDocOf(t *testing.T, n *node.Node, bucket string) client.PBS {
	t.Helper()
	raw, err := n.PBS(t.Context(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	var doc client.PBS
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return doc
}
