package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// randState draws a partial state from a small domain, so that states
// collide on names, versions and origins often.
func randState(r *rand.Rand) wireState {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	w := wireState{V: stateVersion, Members: map[string]memberEntry{}, Buckets: map[string]bucketEntry{}}
	for range r.IntN(4) {
		w.Members[pick("a", "b", "c")] = memberEntry{
			Ver:    uint64(1 + r.IntN(3)),
			Origin: pick("a", "b", "c"),
			Gossip: pick("10.0.0.1:7946", "10.0.0.2:7946"),
			RPC:    pick("", "10.0.0.1:1"),
			Status: Status(1 + r.IntN(3)),
		}
	}
	for range r.IntN(4) {
		e := bucketEntry{Ver: uint64(1 + r.IntN(3)), Origin: pick("a", "b", "c")}
		if r.IntN(3) == 0 {
			e.Deleted = true
		} else {
			e.Props = []byte(pick(`{"n":1}`, `{"n":2}`, `[]`))
		}
		w.Buckets[pick("x", "y")] = e
	}
	return w
}

func apply(ws ...wireState) *clusterState {
	s := newClusterState()
	for _, w := range ws {
		s.merge(w)
	}
	return s
}

func sameState(a, b *clusterState) bool {
	return reflect.DeepEqual(a.members, b.members) && reflect.DeepEqual(a.buckets, b.buckets) && a.clock == b.clock
}

// TestMerge_isJoin checks the semilattice laws of merge against random
// states: commutative, associative, idempotent, so every node converges
// whatever order updates arrive in.
func TestMerge_isJoin(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		x, y, z := randState(r), randState(r), randState(r)
		if !sameState(apply(x, y), apply(y, x)) {
			t.Fatalf("case %d: not commutative:\n%+v\n%+v", i, x, y)
		}
		xy := apply(x, y)
		xyz1 := apply(xy.wire(""), z)
		yz := apply(y, z)
		xyz2 := apply(x, yz.wire(""))
		if !sameState(xyz1, xyz2) {
			t.Fatalf("case %d: not associative", i)
		}
		if !sameState(apply(x, x), apply(x)) || !sameState(apply(x, y, x, y), xy) {
			t.Fatalf("case %d: not idempotent", i)
		}
		// The result holds, per key, an entry no smaller than any input's.
		for _, w := range []wireState{x, y} {
			for k, e := range w.Members {
				if compareMember(xy.members[k], e) < 0 {
					t.Fatalf("case %d: member %s lost to an older entry", i, k)
				}
			}
			for k, e := range w.Buckets {
				if compareBucket(xy.buckets[k], e) < 0 {
					t.Fatalf("case %d: bucket %s lost to an older entry", i, k)
				}
			}
		}
	}
}

func TestMerge_newsAndClock(t *testing.T) {
	s := newClusterState()
	set := wireState{Buckets: map[string]bucketEntry{"b": {Ver: 3, Origin: "x", Props: []byte(`{"n":1}`)}}}
	if news := s.merge(set); len(news.Buckets) != 1 {
		t.Fatalf("first merge: news = %+v", news)
	}
	if s.clock != 3 || s.tick() != 4 {
		t.Fatalf("clock = %d: a local write must version above everything seen", s.clock)
	}
	// A later reset wins; the older set arriving again changes nothing.
	reset := wireState{Buckets: map[string]bucketEntry{"b": {Ver: 5, Origin: "a", Deleted: true}}}
	s.merge(reset)
	if news := s.merge(set); len(news.Buckets) != 0 || !s.buckets["b"].Deleted {
		t.Fatalf("old set resurrected the bucket: %+v", s.buckets["b"])
	}
	// Same version: the higher origin wins, on every node.
	tie := wireState{Buckets: map[string]bucketEntry{"b": {Ver: 5, Origin: "b", Props: []byte(`{"n":2}`)}}}
	if news := s.merge(tie); len(news.Buckets) != 1 || s.buckets["b"].Deleted {
		t.Fatalf("tie-break: got %+v", s.buckets["b"])
	}
}

func TestStatus_text(t *testing.T) {
	for _, s := range []Status{Joined, Leaving, Removed} {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got Status
		if err := got.UnmarshalText(b); err != nil || got != s {
			t.Errorf("round trip %v: %v %v", s, got, err)
		}
	}
	if _, err := Status(0).MarshalText(); err == nil {
		t.Error("Status(0) encoded")
	}
	if got := Status(9).String(); got != "Status(9)" {
		t.Errorf("String = %q", got)
	}
	if got := Liveness(0).String(); got != "Liveness(0)" {
		t.Errorf("String = %q", got)
	}
}

// malformedStates are bytes a broken or hostile peer could send.
var malformedStates = []struct{ name, in string }{
	{"empty", ""},
	{"truncated", `{"v":1,"members":{`},
	{"not json", "\x00\x01garbage"},
	{"null", "null"},
	{"array", "[1,2]"},
	{"no version", `{"members":{}}`},
	{"future version", `{"v":2}`},
	{"members not object", `{"v":1,"members":[]}`},
	{"version zero", `{"v":1,"members":{"a":{"ver":0,"origin":"a","gossip":"1.2.3.4:5","status":"joined"}}}`},
	{"version huge", `{"v":1,"members":{"a":{"ver":18446744073709551615,"origin":"a","gossip":"1.2.3.4:5","status":"joined"}}}`},
	{"version negative", `{"v":1,"members":{"a":{"ver":-1,"origin":"a","gossip":"1.2.3.4:5","status":"joined"}}}`},
	{"no origin", `{"v":1,"members":{"a":{"ver":1,"gossip":"1.2.3.4:5","status":"joined"}}}`},
	{"bad status", `{"v":1,"members":{"a":{"ver":1,"origin":"a","gossip":"1.2.3.4:5","status":"gone"}}}`},
	{"no status", `{"v":1,"members":{"a":{"ver":1,"origin":"a","gossip":"1.2.3.4:5"}}}`},
	{"bad gossip addr", `{"v":1,"members":{"a":{"ver":1,"origin":"a","gossip":"nowhere","status":"joined"}}}`},
	{"bad rpc addr", `{"v":1,"members":{"a":{"ver":1,"origin":"a","gossip":"1.2.3.4:5","rpc":"x:0","status":"joined"}}}`},
	{"empty name", `{"v":1,"members":{"":{"ver":1,"origin":"a","gossip":"1.2.3.4:5","status":"joined"}}}`},
	{"long name", `{"v":1,"members":{"` + strings.Repeat("n", 300) + `":{"ver":1,"origin":"a","gossip":"1.2.3.4:5","status":"joined"}}}`},
	{"deleted with props", `{"v":1,"buckets":{"b":{"ver":1,"origin":"a","deleted":true,"props":{}}}}`},
	{"null props", `{"v":1,"buckets":{"b":{"ver":1,"origin":"a","props":null}}}`},
	{"no props", `{"v":1,"buckets":{"b":{"ver":1,"origin":"a"}}}`},
	{"empty bucket", `{"v":1,"buckets":{"":{"ver":1,"origin":"a","props":1}}}`},
	{"one bad among good", `{"v":1,"buckets":{"ok":{"ver":1,"origin":"a","props":1},"bad":{"ver":0,"origin":"a","props":1}}}`},
}

func TestDecodeState_rejectsMalformed(t *testing.T) {
	for _, tc := range malformedStates {
		t.Run(tc.name, func(t *testing.T) {
			if w, err := decodeState([]byte(tc.in)); !errors.Is(err, errMalformed) {
				t.Errorf("decodeState = %+v, %v; want errMalformed", w, err)
			}
		})
	}
}

func TestDecodeState_roundTrip(t *testing.T) {
	in := `{"v":1,"from":"a","members":{"a":{"ver":2,"origin":"a","gossip":"127.0.0.1:7946","rpc":"127.0.0.1:8087","http":"127.0.0.1:8098","status":"leaving"}},` +
		`"buckets":{"b":{"ver":3,"origin":"b","props":{ "x" : [1, 2], "h": "<&>" }},"d":{"ver":4,"origin":"a","deleted":true}}}`
	w, err := decodeState([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(w.Buckets["b"].Props); got != `{"x":[1,2],"h":"<&>"}` {
		t.Errorf("props not compacted as is: %s", got)
	}
	if w.Members["a"].Status != Leaving || w.Members["a"].HTTP != "127.0.0.1:8098" {
		t.Errorf("member = %+v", w.Members["a"])
	}
	enc := encodeState(w)
	w2, err := decodeState(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(w, w2) || !bytes.Equal(enc, encodeState(w2)) {
		t.Errorf("round trip changed the state:\n%s\n%s", enc, encodeState(w2))
	}
}

// FuzzDecodeState: decoding never panics, and what decodes re-encodes to
// bytes that decode to the same state, stably.
func FuzzDecodeState(f *testing.F) {
	for _, tc := range malformedStates {
		f.Add([]byte(tc.in))
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 10 {
		f.Add(encodeState(randState(r)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := decodeState(b)
		if err != nil {
			return
		}
		enc := encodeState(w)
		w2, err := decodeState(enc)
		if err != nil {
			t.Fatalf("re-decode %s: %v", enc, err)
		}
		if enc2 := encodeState(w2); !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable encoding:\n%s\n%s", enc, enc2)
		}
		s := apply(w)
		if news := s.merge(w2); len(news.Members)+len(news.Buckets) != 0 {
			t.Fatalf("re-decoded state is news: %s", fmt.Sprint(news))
		}
	})
}
