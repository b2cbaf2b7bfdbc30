package clustertest_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	dhttp "github.com/dynamod/dynamod/http"
	"github.com/dynamod/dynamod/internal/clustertest"
	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/transport"
)

// The tests of this file pin key listings and operator scans under load
// (issue 12: remote nodes buffered their whole key list, and nothing
// limited how many listings and scans ran at once).

// TestList_pagedAcrossNodes: a listing gets every key once, the other
// nodes' keys in pages.
func TestList_pagedAcrossNodes(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Defaults: quorum.Props{NVal: 1}})
	var want []string
	for i := range 4000 {
		k := fmt.Sprint("k", i)
		if _, err := put(t, c, "n1", k, "v", nil, quorum.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, k)
	}
	var mu sync.Mutex
	pages := map[string]int{}
	c.Net.Hook(func(m *transport.Msg) bool {
		if m.Kind == quorum.KindList && !m.Response {
			mu.Lock()
			pages[m.To]++
			mu.Unlock()
		}
		return true
	})
	var got []string
	if err := c.Node("n1").ListKeys(t.Context(), "b", func(k string) error { got = append(got, k); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("listed %d keys, want %d", len(got), len(want))
	}
	mu.Lock()
	defer mu.Unlock()
	if pages["n2"] < 2 || pages["n3"] < 2 {
		t.Fatalf("list requests per node %v: want each remote node's keys (about 1 300) in pages", pages)
	}
}

// TestList_burstRefused: past quorum.MaxScans listings and finder scans at
// once, a node answers unavailable (the HTTP layer's 503) at once, and
// takes scans again when one ends.
func TestList_burstRefused(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	for i := range 10 {
		if _, err := put(t, c, "n1", fmt.Sprint("k", i), "v", nil, quorum.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	n1 := c.Node("n1")
	in := make(chan struct{})
	release := make(chan struct{})
	errs := make(chan error, quorum.MaxScans)
	for range quorum.MaxScans {
		go func() {
			first := true
			errs <- n1.ListKeys(t.Context(), "b", func(string) error {
				if first {
					first = false
					in <- struct{}{}
					<-release
				}
				return nil
			})
		}()
	}
	for range quorum.MaxScans {
		<-in
	}
	if err := n1.ListKeys(t.Context(), "b", func(string) error { return nil }); !errors.Is(err, quorum.ErrUnavailable) {
		t.Errorf("a listing past the limit: %v, want unavailable", err)
	}
	if _, err := n1.Find(t.Context(), "siblings", dhttp.FindQuery{Partition: -1}); !errors.Is(err, quorum.ErrUnavailable) {
		t.Errorf("a finder past the limit: %v, want unavailable", err)
	}
	// Other nodes list as usual.
	if err := c.Node("n2").ListKeys(t.Context(), "b", func(string) error { return nil }); err != nil {
		t.Errorf("a listing on another node: %v", err)
	}
	close(release)
	for range quorum.MaxScans {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n1.Find(t.Context(), "siblings", dhttp.FindQuery{Partition: -1}); err != nil {
		t.Fatalf("a finder once the listings ended: %v", err)
	}
	if _, err := n1.Get(t.Context(), "b", "k1", quorum.ReadOptions{}); err != nil {
		t.Fatalf("reads go on: %v", err)
	}
}
