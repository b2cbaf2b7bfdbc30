package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynamod/dynamod/client"
)

// TestTypes_counterKill9: concurrent increments at every node of a real
// 3-node cluster, with a kill -9 of one node in the middle and its
// restart, sum exactly: every acknowledged increment counts, an
// unacknowledged one at most once. The set and the CLI work end to end.
func TestTypes_counterKill9(t *testing.T) {
	needBinary(t)
	ps := startCluster(t, 3)
	for _, b := range []string{"counters:counter", "carts:set"} {
		name, dt, _ := strings.Cut(b, ":")
		if resp, body := do(t, "PUT", ps[0].url()+"/buckets/"+name+"/props", `{"datatype":"`+dt+`"}`,
			map[string]string{"Content-Type": "application/json"}); resp.StatusCode != 204 {
			t.Fatalf("set datatype of %s: %d %s", name, resp.StatusCode, body)
		}
	}
	eventually(t, 10*time.Second, func() string {
		for _, p := range ps {
			if _, body := do(t, "GET", p.url()+"/buckets/carts/props", "", nil); !strings.Contains(body, `"datatype":"set"`) {
				return p.name + " does not see the datatype yet"
			}
			if _, body := do(t, "GET", p.url()+"/buckets/counters/props", "", nil); !strings.Contains(body, `"datatype":"counter"`) {
				return p.name + " does not see the datatype yet"
			}
		}
		return ""
	})

	var acked, attempted atomic.Int64
	var failed atomic.Bool
	var half sync.WaitGroup // every worker's first half done
	var wg sync.WaitGroup
	const perNode = 40
	killed := make(chan struct{})
	for i, p := range ps {
		c, err := client.New([]string{p.url()}, client.WithRetries(0), client.WithTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		half.Add(1)
		wg.Go(func() {
			for j := range perNode {
				if j == perNode/2 {
					half.Done()
					if i == 2 {
						<-killed
						return // its node is dead
					}
				}
				inc := int64(1 + (i+j)%3)
				ctx, cancel := context.WithTimeout(t.Context(), 6*time.Second)
				_, err := c.Increment(ctx, "counters", "hits", inc)
				cancel()
				attempted.Add(inc)
				if err != nil {
					failed.Store(true)
					continue
				}
				acked.Add(inc)
			}
		})
	}
	half.Wait()
	ps[2].kill()
	close(killed)
	wg.Wait()
	ps[2].start()
	waitMembers(t, ps[0], 3)

	var total int64
	eventually(t, 30*time.Second, func() string {
		var vals []int64
		for _, p := range ps {
			resp, body := do(t, "GET", p.url()+"/types/counters/hits?r=all", "", nil)
			if resp.StatusCode != 200 {
				return fmt.Sprintf("%s: %d %s", p.name, resp.StatusCode, body)
			}
			var n int64
			if _, err := fmt.Sscanf(body[strings.Index(body, `"value":`)+len(`"value":`):], "%d", &n); err != nil {
				return body
			}
			vals = append(vals, n)
		}
		if len(slices.Compact(slices.Clone(vals))) != 1 {
			return fmt.Sprintf("nodes disagree: %v", vals)
		}
		if vals[0] != total {
			total = vals[0]
			return "not yet stable"
		}
		return ""
	})
	t.Logf("acknowledged %d, attempted %d, total %d", acked.Load(), attempted.Load(), total)
	if total < acked.Load() || total > attempted.Load() {
		t.Fatalf("total %d outside [acknowledged %d, attempted %d]", total, acked.Load(), attempted.Load())
	}
	if !failed.Load() && total != acked.Load() {
		t.Fatalf("every increment was acknowledged: total %d, want %d", total, acked.Load())
	}

	// A cart through the CLI: add, remove (read first), and the refusals.
	if out, code := cli(t, "set", "add", "--node", ps[0].url(), "carts", "alice", "apple", "pear"); code != 0 {
		t.Fatalf("set add: exit %d: %s", code, out)
	}
	if out, code := cli(t, "set", "remove", "--node", ps[1].url(), "carts", "alice", "apple"); code != 0 {
		t.Fatalf("set remove: exit %d: %s", code, out)
	}
	out, code := cli(t, "set", "get", "--node", ps[2].url(), "carts", "alice")
	if code != 0 || !strings.HasPrefix(out, "pear\ncontext: ") {
		t.Fatalf("set get: exit %d: %q", code, out)
	}
	if resp, body := do(t, "POST", ps[0].url()+"/types/carts/alice", `{"remove":["pear"]}`,
		map[string]string{"Content-Type": "application/json"}); resp.StatusCode != 412 {
		t.Fatalf("remove without context: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "PUT", ps[0].url()+"/kv/carts/alice", `["x"]`,
		map[string]string{"Content-Type": "application/json"}); resp.StatusCode != 409 {
		t.Fatalf("plain PUT on a set bucket: %d %s", resp.StatusCode, body)
	}
	if out, code := cli(t, "counter", "incr", "--node", ps[0].url(), "carts", "alice"); code == 0 {
		t.Fatalf("counter incr on a set bucket succeeded: %s", out)
	}
}
