package http

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dynamod/dynamod/client"
)

// TestStats_observeAndServe: Config.Observe sees every answered request
// with its route, method and status, after the answer is decided, and
// /cluster/stats serves the backend's document.
func TestStats_observeAndServe(t *testing.T) {
	type seen struct {
		route, method string
		status        int
	}
	var mu sync.Mutex
	var got []seen
	e := newEnv(t, func(c *Config) {
		c.Observe = func(route, method string, status int, elapsed time.Duration) {
			if elapsed <= 0 {
				t.Errorf("%s %s: elapsed %v", method, route, elapsed)
			}
			mu.Lock()
			defer mu.Unlock()
			got = append(got, seen{route, method, status})
		}
	})
	e.do("PUT", "/kv/b/k", []byte("v"), "Content-Type", "text/plain").want(t, 204)
	e.do("GET", "/kv/b/k", nil).want(t, 200)
	e.do("GET", "/kv/b/missing", nil).want(t, 404)
	e.do("GET", "/nowhere", nil).want(t, 404)
	r := e.do("GET", "/cluster/stats", nil).want(t, 200)
	var doc client.Stats
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Node != "n1" || doc.Ops["get"].Count[0] != 3 {
		t.Fatalf("stats document %s", r.body)
	}
	want := []seen{
		{"kv_object", "PUT", 204}, {"kv_object", "GET", 200}, {"kv_object", "GET", 404},
		{"unmatched", "GET", 404}, {"stats", "GET", 200},
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) {
		t.Fatalf("observed %v, want %v", got, want)
	}
}
