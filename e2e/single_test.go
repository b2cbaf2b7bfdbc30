package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestSingleNode_walkthrough is the README's curl walk-through against a
// real process.
func TestSingleNode_walkthrough(t *testing.T) {
	needBinary(t)
	p := newProc(t, "solo")
	p.start()
	kv := p.url() + "/kv/cart/alice"

	resp, _ := do(t, "PUT", kv, "milk", map[string]string{"Content-Type": "text/plain"})
	if resp.StatusCode != 204 || resp.Header.Get("Dynamod-Context") == "" {
		t.Fatalf("PUT: %d, context %q: a write that leaves one value names its context", resp.StatusCode, resp.Header.Get("Dynamod-Context"))
	}
	resp, body := do(t, "GET", kv, "", nil)
	ctx1 := resp.Header.Get("Dynamod-Context")
	if resp.StatusCode != 200 || body != "milk" || ctx1 == "" {
		t.Fatalf("GET: %d %q context %q", resp.StatusCode, body, ctx1)
	}
	// Two blind writes: siblings of each other and of milk.
	do(t, "PUT", kv, "eggs", map[string]string{"Content-Type": "text/plain"})
	resp, _ = do(t, "PUT", kv, "bread", map[string]string{"Content-Type": "text/plain"})
	if resp.Header.Get("Dynamod-Context") != "" {
		t.Fatal("a write that left siblings named a context covering siblings the client never saw")
	}
	resp, body = do(t, "GET", kv, "", map[string]string{"Accept": "application/json"})
	if resp.StatusCode != 300 {
		t.Fatalf("GET after blind writes: %d %s", resp.StatusCode, body)
	}
	for _, v := range []string{"bWlsaw", "ZWdncw", "YnJlYWQ"} { // base64 of milk, eggs, bread
		if !strings.Contains(body, v) {
			t.Errorf("siblings %s lack %s", body, v)
		}
	}
	ctx2 := resp.Header.Get("Dynamod-Context")
	// Resolve with the context: one value.
	resp, _ = do(t, "PUT", kv, "milk,eggs,bread", map[string]string{"Dynamod-Context": ctx2})
	if resp.StatusCode != 204 {
		t.Fatalf("resolving PUT: %d", resp.StatusCode)
	}
	resp, body = do(t, "GET", kv, "", nil)
	if resp.StatusCode != 200 || body != "milk,eggs,bread" {
		t.Fatalf("after resolve: %d %q", resp.StatusCode, body)
	}
	// An older context makes a sibling again.
	do(t, "PUT", kv, "stale", map[string]string{"Dynamod-Context": ctx1})
	resp, _ = do(t, "GET", kv, "", nil)
	if resp.StatusCode != 300 {
		t.Fatalf("stale write: want 300, got %d", resp.StatusCode)
	}
	// Bad input changes nothing.
	for _, q := range []string{"?r=99", "?w=banana"} {
		resp, body = do(t, "PUT", kv+q, "bad", nil)
		if resp.StatusCode != 400 || !strings.Contains(body, "error") {
			t.Errorf("PUT %s: %d %s", q, resp.StatusCode, body)
		}
	}
	resp, _ = do(t, "PUT", kv, "bad", map[string]string{"Dynamod-Context": "!!notbase64"})
	if resp.StatusCode != 400 {
		t.Errorf("bad context: %d", resp.StatusCode)
	}
	resp, body = do(t, "GET", kv, "", map[string]string{"Accept": "application/json"})
	if resp.StatusCode != 300 || strings.Contains(body, "YmFk") {
		t.Errorf("a rejected write changed the key: %d %s", resp.StatusCode, body)
	}
	// Delete with the context: a tombstone 404 that keeps the context.
	resp, _ = do(t, "DELETE", kv, "", map[string]string{"Dynamod-Context": resp.Header.Get("Dynamod-Context")})
	if resp.StatusCode != 204 {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	resp, _ = do(t, "GET", kv, "", nil)
	if resp.StatusCode != 404 || resp.Header.Get("Dynamod-Deleted") != "true" || resp.Header.Get("Dynamod-Context") == "" {
		t.Fatalf("after delete: %d deleted=%q context=%q", resp.StatusCode, resp.Header.Get("Dynamod-Deleted"), resp.Header.Get("Dynamod-Context"))
	}
}

// TestSingleNode_survivesKill9 writes, kills the process with SIGKILL right
// after the acknowledgements, restarts it and reads everything back; then
// the same after a clean restart.
func TestSingleNode_survivesKill9(t *testing.T) {
	needBinary(t)
	p := newProc(t, "solo")
	p.start()
	for i := range 50 {
		resp, _ := do(t, "PUT", fmt.Sprintf("%s/kv/b/key%d", p.url(), i), fmt.Sprintf("value%d", i), nil)
		if resp.StatusCode != 204 {
			t.Fatalf("PUT %d: %d", i, resp.StatusCode)
		}
	}
	p.kill()
	p.start()
	check := func() {
		for i := range 50 {
			resp, body := do(t, "GET", fmt.Sprintf("%s/kv/b/key%d", p.url(), i), "", nil)
			if resp.StatusCode != 200 || body != fmt.Sprintf("value%d", i) {
				t.Fatalf("key%d after restart: %d %q", i, resp.StatusCode, body)
			}
		}
	}
	check()
	p.stop()
	p.start()
	check()
	// The CLI sees the same, with a context.
	out, code := cli(t, "get", "b", "key7", "--node", p.url())
	if code != 0 || !strings.Contains(out, "value7") || !strings.Contains(out, "context: ") {
		t.Fatalf("dynamod get: exit %d\n%s", code, out)
	}
	// The node refuses the quorum (400, naming the parameter); the CLI
	// exits 1, as for any failed request, and prints no value.
	out, code = cli(t, "get", "b", "key7", "--node", p.url(), "--r", "banana")
	if code != 1 || !strings.Contains(out, "answered 400") || !strings.Contains(out, `"parameter":"r"`) || strings.Contains(out, "value7") {
		t.Fatalf("dynamod get --r banana: exit %d, want 1 and the node's 400 about parameter r\n%s", code, out)
	}
}
