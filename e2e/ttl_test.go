package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestTTL_realProcesses: a value written with a TTL reads with its expiry
// on every node, then 404 on every node once the TTL and the skew
// allowance (1 s) have passed, and leaves key listings; `dynamod put
// --ttl` sets one too, and a bucket's ttl applies to writes that give
// none.
func TestTTL_realProcesses(t *testing.T) {
	needBinary(t)
	ps := startCluster(t, 3)
	// The TTL'd write and the reads before it expires go over HTTP: a
	// race-built CLI can take seconds to start under load. The CLI's
	// --ttl writes a value that lives an hour.
	const ttl = 5 * time.Second
	start := time.Now()
	if resp, body := do(t, "PUT", ps[0].url()+"/kv/sessions/alice?w=all&ttl=5s", "token-1", map[string]string{"Content-Type": "text/plain"}); resp.StatusCode != 204 {
		t.Fatalf("put ttl=5s: %d %s", resp.StatusCode, body)
	}
	for _, p := range ps {
		resp, body := do(t, "GET", p.url()+"/kv/sessions/alice?r=all", "", nil)
		ex, err := time.Parse(time.RFC3339Nano, resp.Header.Get("Dynamod-Expires"))
		if resp.StatusCode != 200 || body != "token-1" || err != nil || ex.Before(start.Add(ttl)) || ex.After(time.Now().Add(ttl)) {
			t.Fatalf("%s before the TTL: %d %q, Dynamod-Expires %q", p.name, resp.StatusCode, body, resp.Header.Get("Dynamod-Expires"))
		}
	}
	if out, code := cli(t, "put", "--node", ps[0].url(), "--w", "all", "sessions", "bob", "token-2"); code != 0 {
		t.Fatalf("put: exit %d: %s", code, out)
	}
	if out, code := cli(t, "put", "--node", ps[0].url(), "--ttl", "1h", "--w", "all", "sessions", "carol", "token-3"); code != 0 {
		t.Fatalf("put --ttl: exit %d: %s", code, out)
	}
	out, code := cli(t, "get", "--node", ps[1].url(), "sessions", "carol")
	if code != 0 || !strings.Contains(out, "expires=") {
		t.Fatalf("dynamod get shows no expiry of a put --ttl: exit %d\n%s", code, out)
	}
	time.Sleep(time.Until(start.Add(ttl + time.Second)))
	for _, p := range ps {
		if resp, body := do(t, "GET", p.url()+"/kv/sessions/alice", "", nil); resp.StatusCode != 404 {
			t.Fatalf("%s after the TTL: %d %q, want 404", p.name, resp.StatusCode, body)
		}
		if resp, body := do(t, "GET", p.url()+"/kv/sessions/bob", "", nil); resp.StatusCode != 200 {
			t.Fatalf("%s: the value without a TTL: %d %q", p.name, resp.StatusCode, body)
		}
	}
	if resp, body := do(t, "GET", ps[0].url()+"/kv/sessions?keys=true", "", nil); resp.StatusCode != 200 || strings.Contains(body, "alice") || !strings.Contains(body, "bob") {
		t.Fatalf("listing after the TTL: %d %s", resp.StatusCode, body)
	}

	if out, code := cli(t, "props", "set", "--node", ps[2].url(), "carts", "ttl=1h"); code != 0 {
		t.Fatalf("props set ttl: exit %d: %s", code, out)
	}
	eventually(t, 10*time.Second, func() string {
		for _, p := range ps {
			if _, body := do(t, "GET", p.url()+"/buckets/carts/props", "", nil); !strings.Contains(body, `"ttl":"1h0m0s"`) {
				return p.name + ": " + body
			}
		}
		return ""
	})
	if out, code := cli(t, "put", "--node", ps[0].url(), "carts", "c1", "x"); code != 0 {
		t.Fatalf("put: exit %d: %s", code, out)
	}
	resp, _ := do(t, "GET", ps[0].url()+"/kv/carts/c1", "", nil)
	ex, err := time.Parse(time.RFC3339Nano, resp.Header.Get("Dynamod-Expires"))
	if err != nil || time.Until(ex) < 59*time.Minute || time.Until(ex) > time.Hour {
		t.Fatalf("bucket ttl 1h: Dynamod-Expires %q", resp.Header.Get("Dynamod-Expires"))
	}
}
