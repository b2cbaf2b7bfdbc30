package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynamod/dynamod/client"
	"github.com/dynamod/dynamod/internal/clustertest"
	"github.com/dynamod/dynamod/resolve"
)

// TestResolvers_realProcesses: three real nodes; a json-set-union bucket
// takes concurrent cart updates through every node (siblings arise) and
// reads back as one value holding every acknowledged item; a webhook bucket
// resolves through a test server; a webhook at a dead URL returns the
// siblings and loses nothing; an lww bucket returns one value.
func TestResolvers_realProcesses(t *testing.T) {
	needBinary(t)
	ps := startCluster(t, 3, "--webhook-allow", "127.0.0.1")
	var urls []string
	for _, p := range ps {
		urls = append(urls, p.url())
	}
	cl, err := client.New(urls, client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	hook := httptest.NewServer(clustertest.JoinWebhook("+"))
	defer hook.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	resolvers := map[string]string{"carts": "json-set-union", "hooked": "webhook:" + hook.URL, "broken": "webhook:" + deadURL, "last": "lww"}
	// A webhook to a host outside the allowlist is refused (400, exit 1)
	// and changes nothing: a metadata service, another loopback port
	// through a name.
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://localhost:" + strings.Split(hook.URL, ":")[2]} {
		out, code := cli(t, "props", "set", "hooked", "resolver=webhook:"+u, "--node", ps[0].url())
		if code == 0 || !strings.Contains(out, "allowlist") || !strings.Contains(out, "400") {
			t.Fatalf("props set to a disallowed webhook %s: exit %d\n%s\nwant a 400 naming the allowlist", u, code, out)
		}
	}
	if got := resolverOf(t, ps[0], "hooked"); got != "siblings" {
		t.Fatalf("a refused props change left resolver %q", got)
	}
	for bucket, resolver := range resolvers {
		out, code := cli(t, "props", "set", bucket, "resolver="+resolver, "--node", ps[0].url())
		if code != 0 {
			t.Fatalf("props set %s: exit %d\n%s", bucket, code, out)
		}
	}
	// Bucket properties travel by gossip, one entry per bucket: those of
	// one bucket having arrived says nothing of another's. Wait until every
	// node serves the resolver of every bucket read below.
	eventually(t, 20*time.Second, func() string {
		for _, p := range ps {
			for bucket, resolver := range resolvers {
				if got := resolverOf(t, p, bucket); got != resolver {
					return fmt.Sprintf("%s has resolver %q for %s, want %q", p.name, got, bucket, resolver)
				}
			}
		}
		return ""
	})

	// Concurrent cart updates: every worker reads, adds its item to what it
	// read, and writes with the context it read, through its own node.
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for w := range 6 {
		node, err := client.New([]string{urls[w%3]}, client.WithTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for i := range 10 {
				item := fmt.Sprintf("w%d-i%d", w, i)
				err := node.Update(ctx, "carts", "alice", func(sibs [][]byte) []byte {
					b, _ := resolve.SetUnion(sibs)
					return b
				}, func(cur []byte, exists bool) ([]byte, error) {
					var items []string
					if exists {
						if err := json.Unmarshal(cur, &items); err != nil {
							return nil, err
						}
					}
					return json.Marshal(append(items, item))
				}, &client.WriteOptions{ContentType: "application/json"})
				if err == nil {
					mu.Lock()
					acked = append(acked, item)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(acked) != 60 {
		t.Errorf("%d of 60 cart updates acknowledged", len(acked))
	}
	obj, err := cl.Get(ctx, "carts", "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	val, ok := obj.Value()
	if !ok {
		t.Fatalf("cart read back as %d siblings, want one resolved value", len(obj.Siblings))
	}
	var items []string
	if err := json.Unmarshal(val, &items); err != nil {
		t.Fatal(err)
	}
	for _, a := range acked {
		if !slices.Contains(items, a) {
			t.Errorf("acknowledged item %s lost", a)
		}
	}

	// Blind writes make siblings in the other buckets.
	for _, b := range []string{"hooked", "broken", "last"} {
		for i, u := range urls {
			resp, body := do(t, "PUT", u+"/kv/"+b+"/k", fmt.Sprintf("v%d", i), map[string]string{"Content-Type": "text/plain"})
			if resp.StatusCode != 204 {
				t.Fatalf("PUT %s: %d %s", b, resp.StatusCode, body)
			}
		}
	}
	resp, body := do(t, "GET", urls[1]+"/kv/hooked/k", "", nil)
	if resp.StatusCode != 200 || body != "v0+v1+v2" {
		t.Errorf("webhook bucket: %d %q, want 200 v0+v1+v2", resp.StatusCode, body)
	}
	resp, body = do(t, "GET", urls[1]+"/kv/broken/k", "", map[string]string{"Accept": "application/json"})
	if w := resp.Header.Get("Dynamod-Resolver-Warning"); resp.StatusCode != 300 || w != "resolver failed (refused), siblings returned" {
		t.Errorf("dead webhook: %d warning %q, want 300 with the warning of a refused connection (its class, not the error)", resp.StatusCode, w)
	}
	for _, v := range []string{"djA", "djE", "djI"} { // base64 of v0, v1, v2
		if !strings.Contains(body, v) {
			t.Errorf("dead webhook lost a sibling: %s", body)
		}
	}
	// The writes were acknowledged one after the other, so v2 has the
	// latest timestamp (and would win a tie too: the greater data).
	resp, body = do(t, "GET", urls[0]+"/kv/last/k", "", nil)
	if resp.StatusCode != 200 || body != "v2" {
		t.Errorf("lww bucket: %d %q, want 200 v2, the newest", resp.StatusCode, body)
	}
}

// resolverOf returns the resolver p serves in bucket's properties.
func resolverOf(t testing.TB, p *proc, bucket string) string {
	t.Helper()
	resp, body := do(t, "GET", p.url()+"/buckets/"+bucket+"/props", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("props of %s on %s: %d %s", bucket, p.name, resp.StatusCode, body)
	}
	var props struct {
		Resolver string `json:"resolver"`
	}
	if err := json.Unmarshal([]byte(body), &props); err != nil {
		t.Fatalf("props of %s on %s: %v: %s", bucket, p.name, err, body)
	}
	return props.Resolver
}
