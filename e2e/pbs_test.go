package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dynamod/dynamod/client"
)

// TestPBS_liveCurves: after some writes and reads through a node of a
// real 3-node cluster, its /cluster/pbs has samples of every latency and
// a curve per R and W, the bucket's own first; R+W > N curves are 1 at
// every t and R = W = 1 is below 1 at 0 ms. A bad bucket name is a 400.
func TestPBS_liveCurves(t *testing.T) {
	needBinary(t)
	ps := startCluster(t, 3)
	n1 := ps[0]
	for i := range 40 {
		resp, body := do(t, "PUT", fmt.Sprintf("%s/kv/b/pbs%d?w=all", n1.url(), i), "x", nil)
		if resp.StatusCode != 204 {
			t.Fatalf("PUT pbs%d: %d %s", i, resp.StatusCode, body)
		}
		resp, body = do(t, "GET", fmt.Sprintf("%s/kv/b/pbs%d?r=all", n1.url(), i), "", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET pbs%d: %d %s", i, resp.StatusCode, body)
		}
	}
	var doc client.PBS
	eventually(t, 10*time.Second, func() string {
		resp, body := do(t, "GET", n1.url()+"/cluster/pbs?bucket=b", "", nil)
		if resp.StatusCode != 200 {
			return fmt.Sprintf("%d %s", resp.StatusCode, body)
		}
		dec := json.NewDecoder(strings.NewReader(body))
		dec.DisallowUnknownFields()
		doc = client.PBS{}
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("decode: %v: %s", err, body)
		}
		s := doc.Samples
		if s.WriteRequest == 0 || s.WriteAck == 0 || s.ReadRequest == 0 || s.ReadResponse == 0 || len(doc.Curves) == 0 {
			return fmt.Sprintf("samples %+v, %d curves (answers are cached for a second)", s, len(doc.Curves))
		}
		return ""
	})
	if doc.Node != "n1" || doc.Bucket != "b" || doc.N != 3 || doc.R != 2 || doc.W != 2 || doc.Trials == 0 || len(doc.Curves) != 9 {
		t.Fatalf("document %+v: want n1's, bucket b, n=3 r=2 w=2, 9 curves", doc)
	}
	if c := doc.Curves[0]; c.R != 2 || c.W != 2 || !c.Strict {
		t.Errorf("first curve r=%d w=%d strict=%v, want the bucket's 2, 2, strict", c.R, c.W, c.Strict)
	}
	for _, c := range doc.Curves {
		if len(c.Visibility) == 0 || len(c.KStaleness) != 5 {
			t.Errorf("r=%d w=%d: %d points, %d k-staleness points", c.R, c.W, len(c.Visibility), len(c.KStaleness))
		}
		for _, p := range c.Visibility {
			if c.Strict && p.P != 1 {
				t.Errorf("r=%d w=%d t=%vms: p=%v, want 1", c.R, c.W, p.TMS, p.P)
			}
		}
		if c.R == 1 && c.W == 1 && c.Visibility[0].P >= 1 {
			t.Errorf("r=1 w=1 t=0: p=%v, want below 1", c.Visibility[0].P)
		}
	}
	// The Go client, for the default properties.
	cl, err := client.New([]string{n1.url()})
	if err != nil {
		t.Fatal(err)
	}
	def, err := cl.PBS(t.Context(), "")
	if err != nil || def.Bucket != "" || def.N != 3 || len(def.Curves) != 9 {
		t.Errorf("client PBS of the defaults: %+v, %v", def, err)
	}
	resp, body := do(t, "GET", n1.url()+"/cluster/pbs?bucket=", "", nil)
	if resp.StatusCode != 400 || !strings.Contains(body, `"error"`) {
		t.Errorf("empty bucket: %d %s, want a 400 with a JSON error", resp.StatusCode, body)
	}
}
