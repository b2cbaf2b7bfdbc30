package antientropy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

func TestFinders(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: 1, partitions: 4, nval: 1})
	r := c.rep("n1")
	fill(t, c, 0, 200, 10, r)
	want := map[string][]storage.Key{}
	for i := 0; i < 200; i += 20 { // three siblings
		k := keyN(i)
		r.write(t, k, val("s1", c.clock.Now()), 7, false)
		r.write(t, k, val("s2", c.clock.Now()), 8, false)
		want["siblings"] = append(want["siblings"], k)
	}
	big := make([]byte, 3000)
	for i := 5; i < 200; i += 40 {
		k := keyN(i)
		r.write(t, k, versioning.Value{Data: big, LastModified: c.clock.Now().UnixNano()}, 1, true)
		want["large"] = append(want["large"], k)
	}
	tombs := map[int]int{}
	ring := c.members.Ring()
	for i := 7; i < 200; i += 10 {
		r.write(t, keyN(i), tomb(c.clock.Now()), 1, true)
		tombs[ring.Partition(keyN(i).Hash)]++
	}
	names := func(res FindResult) []string {
		var out []string
		for _, kr := range res.Keys {
			out = append(out, kr.Key)
		}
		slices.Sort(out)
		return out
	}
	keyNames := func(ks []storage.Key) []string {
		var out []string
		for _, k := range ks {
			out = append(out, k.Key)
		}
		slices.Sort(out)
		return out
	}

	res, err := FindSiblings(t.Context(), r, ring, Query{Partition: AllPartitions}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got, w := names(res), keyNames(want["siblings"]); !slices.Equal(got, w) || res.Scanned != 200 || res.Matched != len(w) {
		t.Fatalf("FindSiblings = %v (scanned %d), want %v", got, res.Scanned, w)
	}
	for _, kr := range res.Keys {
		if kr.Siblings != 3 || kr.Tombstone || kr.Partition != ring.Partition(key(kr.Bucket, kr.Key).Hash) {
			t.Fatalf("report %+v", kr)
		}
	}
	res, err = FindSiblings(t.Context(), r, ring, Query{Partition: AllPartitions, Limit: 3}, 2)
	if err != nil || len(res.Keys) != 3 || !res.Truncated || res.Matched != len(want["siblings"]) {
		t.Fatalf("limited FindSiblings = %+v, %v", res, err)
	}
	res, err = FindLarge(t.Context(), r, ring, Query{Partition: AllPartitions}, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if got, w := names(res), keyNames(want["large"]); !slices.Equal(got, w) {
		t.Fatalf("FindLarge = %v, want %v", got, w)
	}
	for _, kr := range res.Keys {
		if c, _ := r.get(t, key(kr.Bucket, kr.Key)); kr.Bytes != len(storage.AppendObject(nil, c)) {
			t.Fatalf("report %+v: wrong size", kr)
		}
	}
	// One partition only.
	p := ring.Partition(want["large"][0].Hash)
	res, err = FindLarge(t.Context(), r, ring, Query{Partition: p}, 2000)
	if err != nil {
		t.Fatal(err)
	}
	for _, kr := range res.Keys {
		if kr.Partition != p {
			t.Fatalf("partition %d query returned %+v", p, kr)
		}
	}
	if len(res.Keys) == 0 {
		t.Fatal("partition query found nothing")
	}

	counts, err := CountTombstones(t.Context(), r, ring, Query{Partition: AllPartitions})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, pc := range counts {
		if pc.Tombstones != tombs[pc.Partition] {
			t.Fatalf("partition %d: %d tombstones, want %d", pc.Partition, pc.Tombstones, tombs[pc.Partition])
		}
		total += pc.Keys
	}
	if total != 200 || len(counts) != 4 {
		t.Fatalf("counts %+v", counts)
	}
	if _, err := CountTombstones(t.Context(), r, ring, Query{Partition: 4}); err == nil {
		t.Fatal("partition out of range accepted")
	}
	b, err := json.Marshal(counts[0])
	if err != nil || !strings.Contains(string(b), `"tombstones":`) {
		t.Fatalf("JSON %s, %v", b, err)
	}
	if got := r.ae.Load().Status(); got.Tombstones != 20 || got.Keys != 200 {
		t.Fatalf("Status() counts %d keys and %d tombstones, want 200 and 20", got.Keys, got.Tombstones)
	}
}
