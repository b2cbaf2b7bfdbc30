package compose

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The data types in TestPartitionHealKill (docs/design.md, "Data types"):
// a counter incremented on both sides of the partition and while a node
// is killed sums exactly, and a cart as a set edited on both sides keeps
// exactly the items added and not removed, a concurrent re-add beating
// the remove.
const (
	counterBucket = "hits"
	cartBucket    = "cartset"
)

// typesScenario is what the data types' part of the scenario expects.
type typesScenario struct {
	c    *cluster
	hits int      // increments acknowledged
	cart []string // the cart's expected elements, sorted
	ctx0 string   // the cart's context read before the partition
}

// typesBefore sets the buckets' datatypes, counts a few increments and
// fills the cart on the healthy cluster.
func (c *cluster) typesBefore() *typesScenario {
	c.t.Helper()
	c.setProps("n1", counterBucket, `{"datatype":"counter"}`, `"datatype":"counter"`)
	c.setProps("n1", cartBucket, `{"datatype":"set"}`, `"datatype":"set"`)
	s := &typesScenario{c: c}
	for _, n := range []string{"n1", "n2", "n3"} {
		s.incr(n, false)
	}
	c.typeOp("n1", cartBucket, "alice", map[string]any{"add": []string{"milk", "eggs"}})
	_, s.ctx0 = c.typeGet("n2", cartBucket, "alice")
	return s
}

// partitioned runs while n3 is cut off: increments on both sides (n3's
// through the CLI in its container, with w=1), and the cart edited on
// both: the majority removes eggs and adds bread, the minority adds eggs
// again (concurrently: it did not see the remove), adds jam and removes
// milk; both removes carry the context read before the partition.
func (s *typesScenario) partitioned() {
	c := s.c
	for i := range 6 {
		s.incr([]string{"n1", "n2"}[i%2], false)
	}
	for range 3 {
		s.incr("n3", true)
	}
	c.typeOp("n1", cartBucket, "alice", map[string]any{"remove": []string{"eggs"}, "context": s.ctx0})
	c.typeOp("n2", cartBucket, "alice", map[string]any{"add": []string{"bread"}})
	for _, args := range [][]string{
		{"set", "add", cartBucket, "alice", "eggs", "jam", "--w", "1"},
		{"set", "remove", cartBucket, "alice", "milk", "--context", s.ctx0, "--w", "1"},
	} {
		if out, err := c.exec("n3", args...); err != nil {
			c.t.Fatalf("minority %v: %v: %s", args, err, out)
		}
	}
	s.cart = []string{"bread", "eggs", "jam"}
}

// nodeDown runs while a node is killed: increments through the others.
func (s *typesScenario) nodeDown(alive ...string) {
	for i := range 6 {
		s.incr(alive[i%len(alive)], false)
	}
}

// converged waits until every node reads the exact count and cart.
func (s *typesScenario) converged(what string, nodes []string) {
	c := s.c
	want := strings.Join(s.cart, ",")
	for _, n := range nodes {
		c.eventually("data types "+what+" on "+n, 60*time.Second, time.Second, func() string {
			hits, _ := c.typeGet(n, counterBucket, "page")
			cart, _ := c.typeGet(n, cartBucket, "alice")
			var count int
			var elems []string
			if err := json.Unmarshal(hits, &count); err != nil {
				return fmt.Sprintf("counter %s: %v", hits, err)
			}
			if err := json.Unmarshal(cart, &elems); err != nil {
				return fmt.Sprintf("cart %s: %v", cart, err)
			}
			slices.Sort(elems)
			if count != s.hits || strings.Join(elems, ",") != want {
				return fmt.Sprintf("counter %d (want %d), cart %v (want %v)", count, s.hits, elems, s.cart)
			}
			return ""
		})
	}
}

// incr adds one to the counter through svc: over HTTP, or with exec
// through the CLI inside its container with w=1. It must be acknowledged.
func (s *typesScenario) incr(svc string, exec bool) {
	c := s.c
	c.t.Helper()
	if exec {
		if out, err := c.exec(svc, "counter", "incr", counterBucket, "page", "--w", "1"); err != nil {
			c.t.Fatalf("increment in %s: %v: %s", svc, err, out)
		}
	} else {
		c.typeOp(svc, counterBucket, "page", map[string]int{"increment": 1})
	}
	s.hits++
}

// typeOp POSTs a data-type operation through svc; it must answer 200.
func (c *cluster) typeOp(svc, b, key string, op any) {
	c.t.Helper()
	body, err := json.Marshal(op)
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.http.Post(c.url(svc)+"/types/"+url.PathEscape(b)+"/"+url.PathEscape(key), "application/json", strings.NewReader(string(body)))
	if err != nil {
		c.t.Fatalf("update %s/%s via %s: %v", b, key, svc, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("update %s/%s via %s with %s: %d %s", b, key, svc, body, resp.StatusCode, out)
	}
}

// typeGet reads a data-type key through svc: its value as JSON and its
// context; the value is null when the read fails.
func (c *cluster) typeGet(svc, b, key string) (json.RawMessage, string) {
	resp, err := c.http.Get(c.url(svc) + "/types/" + url.PathEscape(b) + "/" + url.PathEscape(key))
	if err != nil {
		return json.RawMessage("null"), ""
	}
	defer resp.Body.Close()
	var doc struct {
		Value   json.RawMessage `json:"value"`
		Context string          `json:"context"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&doc) != nil {
		return json.RawMessage("null"), ""
	}
	return doc.Value, doc.Context
}
