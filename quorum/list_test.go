package quorum

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// TestList_remotePages: a listing streams a remote replica's keys page by
// page (it used to take them all in one reply), every live key once,
// without tombstones or other buckets.
func TestList_remotePages(t *testing.T) {
	tc := newTestCluster(t, []string{"a", "b"}, Props{NVal: 1}, nil)
	var want []string
	onB := 0
	for i := range 5000 {
		key := fmt.Sprint("k", i)
		k := storage.Key{Hash: ring.Hash("b", key), Bucket: "b", Key: key}
		owner := tc.r.Walk(tc.r.Partition(k.Hash))[0]
		tc.stored(t, owner, k, "v")
		want = append(want, key)
		if owner == "b" {
			onB++
		}
		// A tombstone and a key of another bucket next to it.
		other := storage.Key{Hash: ring.Hash("other", key), Bucket: "other", Key: key}
		tc.stored(t, tc.r.Walk(tc.r.Partition(other.Hash))[0], other, "x")
		if i%10 == 0 {
			dk := fmt.Sprint("deleted", i)
			dead := storage.Key{Hash: ring.Hash("b", dk), Bucket: "b", Key: dk}
			tomb := versioning.Update(versioning.New(nil, versioning.Value{Deleted: true, LastModified: 1}), versioning.Clock{}, 9)
			if err := tc.stores[tc.r.Walk(tc.r.Partition(dead.Hash))[0]].Put(dead, tomb, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	if onB <= listPageKeys {
		t.Fatalf("only %d keys on b; the test wants more than one page", onB)
	}
	var got []string
	if err := tc.nodes["a"].ListKeys(t.Context(), "b", func(k string) error { got = append(got, k); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("listed %d keys, want %d", len(got), len(want))
	}
	if n, min := tc.net.count("b", KindList), (onB+listPageKeys-1)/listPageKeys; n < min {
		t.Fatalf("%d list calls to b for its %d keys, want pages of at most %d keys (%d calls or more)", n, onB, listPageKeys, min)
	}
}

// TestList_pageBoundaries: pages resume at their cursor, end only between
// hashes (keys that share a hash stay on one page), and cover every key of
// the ranges once.
func TestList_pageBoundaries(t *testing.T) {
	c := newSoloCoordinator(t)
	var want []string
	put := func(h uint64, bucket, key string, deleted bool) {
		cl := versioning.Update(versioning.New(nil, versioning.Value{Data: []byte("v"), Deleted: deleted, LastModified: 1}), versioning.Clock{}, 5)
		if err := c.store.Put(storage.Key{Hash: h, Bucket: bucket, Key: key}, cl, false); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 {
		h := uint64(i) * (^uint64(0) / 200)
		for j := range i % 5 { // 0 to 4 keys share the hash
			key := fmt.Sprintf("h%d-%d", i, j)
			put(h, "b", key, false)
			if h < 1<<63 || h >= 3<<62 { // in the ranges below
				want = append(want, key)
			}
		}
		put(h, "other", fmt.Sprint("o", i), false)
		put(h, "b", fmt.Sprint("dead", i), true)
	}
	ranges := []hashRange{{0, 1<<63 - 1}, {3 << 62, ^uint64(0)}}
	for _, limit := range []int{1, 3, 7, 1000} {
		var got []string
		cursor, pages := uint64(0), 0
		for {
			pages++
			if pages > 1000 {
				t.Fatal("the pages do not end")
			}
			pg, err := c.listPage(t.Context(), "b", ranges, cursor, limit)
			if err != nil {
				t.Fatal(err)
			}
			for i, k := range pg.keys {
				var hi, hj int
				fmt.Sscanf(k, "h%d-", &hi)
				if i > 0 {
					fmt.Sscanf(pg.keys[i-1], "h%d-", &hj)
				}
				if i >= limit && hi != hj {
					t.Fatalf("limit %d: page of %v goes past the limit with a new hash", limit, pg.keys)
				}
			}
			got = append(got, pg.keys...)
			if !pg.more {
				break
			}
			if pg.next <= cursor {
				t.Fatalf("limit %d: next %x does not advance past %x", limit, pg.next, cursor)
			}
			cursor = pg.next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: %d pages listed %v, want %v", limit, pages, got, want)
		}
	}
}

// TestList_atMostMaxScans: past MaxScans listings and finder scans at
// once, a node refuses more, locally and for peers, as unavailable; a
// slot freed is taken again.
func TestList_atMostMaxScans(t *testing.T) {
	tc := newTestCluster(t, []string{"a", "b"}, Props{NVal: 1}, nil)
	for i := range 20 {
		key := fmt.Sprint("k", i)
		k := storage.Key{Hash: ring.Hash("b", key), Bucket: "b", Key: key}
		tc.stored(t, tc.r.Walk(tc.r.Partition(k.Hash))[0], k, "v")
	}
	a := tc.nodes["a"]
	in := make(chan struct{})
	release := make(chan struct{})
	errs := make(chan error, MaxScans)
	for range MaxScans {
		go func() {
			first := true
			errs <- a.ListKeys(t.Context(), "b", func(string) error {
				if first {
					first = false
					in <- struct{}{}
					<-release
				}
				return nil
			})
		}()
	}
	for range MaxScans {
		<-in
	}
	err := a.ListKeys(t.Context(), "b", func(string) error { return nil })
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("listing number %d at once: %v, want ErrUnavailable", MaxScans+1, err)
	}
	if _, err := a.StartScan("find"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a finder scan past the limit: %v, want ErrUnavailable", err)
	}
	// b lists for a only while it has a slot.
	var dones []func()
	for range MaxScans {
		done, err := tc.nodes["b"].StartScan("find")
		if err != nil {
			t.Fatal(err)
		}
		dones = append(dones, done)
	}
	b, _ := tc.nodes["b"].Serve(t.Context(), "a", KindList, encodeListReq("b", []hashRange{{0, ^uint64(0)}}, 0, 10))
	if _, err := decodeListPage(b); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a page asked of a node at its limit: %v, want ErrUnavailable", err)
	}
	for _, done := range dones {
		done()
		done() // a second call is harmless
	}
	close(release)
	for range MaxScans {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	if err := a.ListKeys(t.Context(), "b", func(string) error { n++; return nil }); err != nil || n != 20 {
		t.Fatalf("a listing once the slots are free: %d keys, %v", n, err)
	}
}
