package clustertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dynamod/dynamod/internal/clustertest"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/versioning"
)

// TestProps_perNode: a props change reaches the other nodes but not a held
// one, which keeps the old props until released and then gets the newest
// of two changes (not the one that happened to be sent last); a change made
// through the held node reaches it and everyone else.
func TestProps_perNode(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	c.HoldProps("n3")
	set := func(via string, p quorum.Props) {
		t.Helper()
		if err := c.Node(via).SetBucketProps("b", p); err != nil {
			t.Fatal(err)
		}
	}
	resolverOn := func(want map[string]string) func() string {
		return func() string {
			for n, r := range want {
				if got := c.Node(n).BucketProps("b").Resolver; got != r {
					return fmt.Sprintf("%s has resolver %q, want %q", n, got, r)
				}
			}
			return ""
		}
	}
	set("n1", quorum.Props{Resolver: "lww"})
	set("n2", quorum.Props{Resolver: "json-set-union"})
	eventually(t, 5*time.Second, resolverOn(map[string]string{"n1": "json-set-union", "n2": "json-set-union"}))
	if got := c.Node("n3").BucketProps("b").Resolver; got != "siblings" {
		t.Fatalf("held n3 has resolver %q", got)
	}
	c.ReleaseProps("n3")
	eventually(t, 5*time.Second, resolverOn(map[string]string{"n3": "json-set-union"}))

	c.HoldProps("n3")
	set("n3", quorum.Props{Resolver: "lww"})
	if got := c.Node("n3").BucketProps("b").Resolver; got != "lww" {
		t.Fatalf("n3 does not have its own change: %q", got)
	}
	eventually(t, 5*time.Second, resolverOn(map[string]string{"n1": "lww", "n2": "lww", "n3": "lww"}))
}

// TestProps_staleCoordinator: n_val goes from 3 to 5 and w from a majority
// to all while two nodes still have the old props, under a workload that
// coordinates through every node. No acknowledged write is lost, and once
// the props arrive reads bring all five replicas of every key to one state.
func TestProps_staleCoordinator(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 5})
	c.HoldProps("n1", "n2")
	if err := c.Node("n3").SetBucketProps("w", quorum.Props{NVal: 5, W: quorum.All}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() string {
		for _, n := range []string{"n3", "n4", "n5"} {
			if got := c.Node(n).BucketProps("w").NVal; got != 5 {
				return fmt.Sprintf("%s has n_val %d", n, got)
			}
		}
		return ""
	})
	h := c.RunWorkload(t.Context(), clustertest.Workload{Bucket: "w", Keys: 15, Ops: 150})
	for _, n := range []string{"n1", "n2"} {
		if p := c.Node(n).BucketProps("w"); p.NVal != 3 || p.W == quorum.All {
			t.Fatalf("%s had the new props during the workload (n_val %d): the test did not test stale props", n, p.NVal)
		}
	}
	if len(h.Acked()) < 100 {
		t.Fatalf("%d of 150 writes acknowledged with every node up", len(h.Acked()))
	}
	c.ReleaseProps("n1", "n2")
	eventually(t, 5*time.Second, func() string {
		for _, n := range c.Names() {
			if got := c.Node(n).BucketProps("w").NVal; got != 5 {
				return fmt.Sprintf("%s has n_val %d", n, got)
			}
		}
		return ""
	})
	c.RequireNoLostWrites(h)
	// Writes coordinated with n_val 3 reached three replicas: reads with
	// n_val 5 that ask every replica repair the other two.
	for _, k := range h.Keys() {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		_, err := c.Node("n1").Get(ctx, "w", k, quorum.ReadOptions{R: quorum.All})
		cancel()
		if err != nil {
			t.Fatalf("r=all read of %s: %v", k, err)
		}
	}
	c.RequireConverged(deadline(t, 5*time.Second), "w", h.Keys())
	c.RequireNoLostWrites(h)
}

// TestProps_resolverOnSomeNodes: a json-set-union resolver reaches n1 and
// n2 but not n3. Reads through n3 return the siblings, each intact; reads
// through n1 return their union; a write through n3 after that adds to it;
// once n3 has the resolver it answers one value holding every item.
func TestProps_resolverOnSomeNodes(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	c.HoldProps("n3")
	if err := c.Node("n1").SetBucketProps("r", quorum.Props{Resolver: "json-set-union"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() string {
		if got := c.Node("n2").BucketProps("r").Resolver; got != "json-set-union" {
			return "n2 has resolver " + got
		}
		return ""
	})
	for i, n := range []string{"n1", "n2", "n3"} { // three blind writes: siblings
		if _, err := putIn(t, c, n, "r", "k", fmt.Appendf(nil, `["a%d"]`, i), nil, quorum.All); err != nil {
			t.Fatal(err)
		}
	}
	items := func(obj *quorum.Object) [][]string {
		var out [][]string
		for _, v := range versioning.Values(obj.Clock) {
			var s []string
			if err := json.Unmarshal(v.Data, &s); err != nil {
				t.Fatalf("value %q: %v", v.Data, err)
			}
			slices.Sort(s)
			out = append(out, s)
		}
		slices.SortFunc(out, slices.Compare)
		return out
	}
	if got := items(getIn(t, c, "n3", "r", "k")); !slices.EqualFunc(got, [][]string{{"a0"}, {"a1"}, {"a2"}}, slices.Equal) {
		t.Fatalf("n3 without the resolver read %v, want the three siblings", got)
	}
	if got := items(getIn(t, c, "n1", "r", "k")); !slices.EqualFunc(got, [][]string{{"a0", "a1", "a2"}}, slices.Equal) {
		t.Fatalf("n1 with the resolver read %v, want their union", got)
	}
	// n1 wrote the union back: n3 reads it as one value, without resolving.
	obj := getIn(t, c, "n3", "r", "k")
	if got := items(obj); !slices.EqualFunc(got, [][]string{{"a0", "a1", "a2"}}, slices.Equal) {
		t.Fatalf("n3 after n1's write-back read %v", got)
	}
	// A blind write through n3 is a sibling of the union again.
	if _, err := putIn(t, c, "n3", "r", "k", []byte(`["b"]`), nil, quorum.All); err != nil {
		t.Fatal(err)
	}
	if got := items(getIn(t, c, "n3", "r", "k")); !slices.EqualFunc(got, [][]string{{"a0", "a1", "a2"}, {"b"}}, slices.Equal) {
		t.Fatalf("n3 without the resolver read %v, want the union and b", got)
	}
	c.ReleaseProps("n3")
	eventually(t, 5*time.Second, func() string {
		if got := c.Node("n3").BucketProps("r").Resolver; got != "json-set-union" {
			return "n3 has resolver " + got
		}
		return ""
	})
	if got := items(getIn(t, c, "n3", "r", "k")); !slices.EqualFunc(got, [][]string{{"a0", "a1", "a2", "b"}}, slices.Equal) {
		t.Fatalf("n3 with the resolver read %v, want one value with every item", got)
	}
}
