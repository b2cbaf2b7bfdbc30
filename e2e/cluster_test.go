package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dynamod/dynamod/client"
)

// startCluster starts n nodes joined to the first and waits until every one
// has all of them in its ring and sees all of them alive.
func startCluster(t testing.TB, n int, extra ...string) []*proc {
	t.Helper()
	var ps []*proc
	for i := 1; i <= n; i++ {
		p := newProc(t, fmt.Sprintf("n%d", i), extra...)
		if i == 1 {
			p.start()
		} else {
			p.start("--join", ps[0].gossipAddr())
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		waitMembers(t, p, n)
	}
	return ps
}

// waitMembers waits until p's /cluster lists exactly want members, each
// joined, alive and owning partitions in p's ring, with no transfer
// pending. Liveness (memberlist) and the member list (the gossiped cluster
// state) arrive apart, the ring the coordinator uses is rebuilt from the
// list afterwards (only primary_partitions, computed from that ring, shows
// a member is in it), and a new member serves only once it has received
// its partitions (status joined, steady).
func waitMembers(t testing.TB, p *proc, want int) {
	t.Helper()
	eventually(t, 30*time.Second, func() string {
		doc, err := getCluster(p)
		if err != nil {
			return err.Error()
		}
		if len(doc.Members) != want {
			return fmt.Sprintf("%s lists %d members, want %d: %+v", p.name, len(doc.Members), want, doc.Members)
		}
		for _, m := range doc.Members {
			if m.Liveness != "alive" || m.PrimaryPartitions == 0 || m.Status != "joined" {
				return fmt.Sprintf("%s sees %s (%s) %s, owning %d partitions in its ring, want joined, alive and owning some: %+v",
					p.name, m.Name, m.Status, m.Liveness, m.PrimaryPartitions, doc.Members)
			}
		}
		if !doc.Steady {
			return fmt.Sprintf("%s: transfers pending", p.name)
		}
		return ""
	})
}

// getCluster reads p's /cluster into the client's type with unknown
// fields disallowed, so every read of a real process also checks that
// client.ClusterStatus holds all the server sends.
func getCluster(p *proc) (*client.ClusterStatus, error) {
	resp, err := http.Get(p.url() + "/cluster")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/cluster of %s: %s: %s", p.name, resp.Status, body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var d client.ClusterStatus
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("/cluster of %s: %w: %s", p.name, err, body)
	}
	return &d, nil
}

func TestCluster_killWriteRestart(t *testing.T) {
	needBinary(t)
	ps := startCluster(t, 3, "--handoff-interval", "500ms")
	n1, n2, n3 := ps[0], ps[1], ps[2]

	out, code := cli(t, "status", "--node", n2.url())
	if code != 0 || !strings.Contains(out, "n1") || !strings.Contains(out, "n3") {
		t.Fatalf("dynamod status: exit %d\n%s", code, out)
	}
	// The watch shows the requests the node served, from /cluster/stats
	// (the status call above is one, sampled within a second).
	out, code = cli(t, "status", "--node", n2.url(), "--watch", "--interval", "1500ms", "--count", "2")
	if code != 0 || strings.Count(out, "\x1b[H\x1b[2J") != 2 || !strings.Contains(out, "requests on n2") || !strings.Contains(out, "other") {
		t.Fatalf("dynamod status --watch: exit %d\n%q", code, out)
	}
	_, body := do(t, "GET", n1.url()+"/cluster/preflist/b/somekey", "", nil)
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	var pl client.Preflist
	if err := dec.Decode(&pl); err != nil || pl.Key != "somekey" || len(pl.Primaries) != 3 || len(pl.Fallbacks) != 0 {
		t.Fatalf("preflist: %v: %s", err, body)
	}

	// w=all: no replica call of these is still in flight when n3 dies, so
	// every hint counted below is one of the writes made while it is down.
	for i := range 20 {
		resp, _ := do(t, "PUT", fmt.Sprintf("%s/kv/b/before%d?w=all", n1.url(), i), "x", nil)
		if resp.StatusCode != 204 {
			t.Fatalf("PUT before%d: %d", i, resp.StatusCode)
		}
	}
	n3.kill()
	for i := range 100 {
		node := []*proc{n1, n2}[i%2]
		resp, body := do(t, "PUT", fmt.Sprintf("%s/kv/b/during%d", node.url(), i), fmt.Sprintf("d%d", i), nil)
		if resp.StatusCode != 204 {
			t.Fatalf("PUT during%d with n3 down: %d %s", i, resp.StatusCode, body)
		}
	}
	// A coordinator that still saw n3 alive sent it the write, and keeps
	// the hint only when that call fails, in the background after the
	// 204: wait for one hint per write.
	eventually(t, 10*time.Second, func() string {
		if h := hintsPending(t, n1) + hintsPending(t, n2); h < 100 {
			return fmt.Sprintf("%d hints pending for the dead node, want at least one per write (100)", h)
		}
		return ""
	})
	n3.start()
	// No reads go through the cluster until the end: a read would repair
	// n3 by itself. Handoff alone must refill it, within 30 s.
	eventually(t, 30*time.Second, func() string {
		for _, p := range []*proc{n1, n2} {
			if h := hintsPending(t, p); h != 0 {
				return fmt.Sprintf("%s still has %d hints", p.name, h)
			}
		}
		return ""
	})
	// Then take the others away: n3 alone must have every key.
	n1.kill()
	n2.kill()
	if m := missingOn(t, n3.url()+"/kv/b/during%d?r=1", 100); m != "" {
		t.Fatalf("with n1 and n2 dead: %s", m)
	}
}

// hintsPending reads a node's pending hint count from /cluster.
func hintsPending(t testing.TB, p *proc) int {
	t.Helper()
	doc, err := getCluster(p)
	if err != nil {
		t.Fatal(err)
	}
	return doc.HintsPending
}

// missingOn returns which of the keys a node does not serve, or "".
func missingOn(t testing.TB, pattern string, n int) string {
	var missing []int
	for i := range n {
		resp, _ := do(t, "GET", fmt.Sprintf(pattern, i), "", nil)
		if resp.StatusCode != 200 {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("%d keys missing, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}
	return ""
}

// TestCluster_antiEntropyRefills: with hinted handoff off on every node, a
// node killed while writes go on is refilled by anti-entropy alone, and
// then serves every key by itself.
func TestCluster_antiEntropyRefills(t *testing.T) {
	needBinary(t)
	ps := startCluster(t, 3, "--hinted-handoff=false", "--ae-interval", "300ms")
	n1, n2, n3 := ps[0], ps[1], ps[2]
	n3.kill()
	for i := range 100 {
		node := []*proc{n1, n2}[i%2]
		resp, body := do(t, "PUT", fmt.Sprintf("%s/kv/b/during%d", node.url(), i), fmt.Sprintf("d%d", i), nil)
		if resp.StatusCode != 204 {
			t.Fatalf("PUT during%d with n3 down: %d %s", i, resp.StatusCode, body)
		}
	}
	n3.start()
	// No reads through the cluster until n3 is alone: reads would repair.
	eventually(t, 60*time.Second, func() string {
		doc, err := getCluster(n3)
		if err != nil {
			return err.Error()
		}
		if doc.AntiEntropy == nil {
			return "n3 shows no anti-entropy status"
		}
		if doc.AntiEntropy.Keys < 100 {
			return fmt.Sprintf("n3's trees cover %d of 100 keys", doc.AntiEntropy.Keys)
		}
		return ""
	})
	out, code := cli(t, "status", "--node", n3.url())
	if code != 0 || !strings.Contains(out, "anti-entropy:") {
		t.Fatalf("dynamod status: exit %d\n%s", code, out)
	}
	n1.kill()
	n2.kill()
	if m := missingOn(t, n3.url()+"/kv/b/during%d?r=1", 100); m != "" {
		t.Fatalf("with n1 and n2 dead: %s", m)
	}
}
