package gossip

import (
	"fmt"
	"maps"
	"slices"
	"testing"
)

// knownState is a state of three joined members and one that left, at
// clock 100, with one bucket.
func knownState() *clusterState {
	s := newClusterState()
	for i, name := range []string{"a", "b", "c"} {
		s.members[name] = memberEntry{Ver: uint64(10 + i), Origin: name, Gossip: fmt.Sprintf("10.0.0.%d:7946", i+1),
			RPC: fmt.Sprintf("10.0.0.%d:7071", i+1), Status: Joined}
	}
	s.members["gone"] = memberEntry{Ver: 30, Origin: "gone", Gossip: "10.0.0.4:7946", Status: Left}
	s.buckets["x"] = bucketEntry{Ver: 20, Origin: "a", Props: []byte(`{"n_val":3}`)}
	s.clock = 100
	return s
}

func member(ver uint64, origin string, st Status) memberEntry {
	return memberEntry{Ver: ver, Origin: origin, Gossip: "10.0.0.9:7946", RPC: "10.0.0.9:7071", Status: st}
}

func TestAdmit_rules(t *testing.T) {
	token := tokenEntry{Ver: 101, Name: "ops", Hash: fmt.Sprintf("%064x", 1), Grants: []string{"admin"}, Created: 1}
	withOrigin := func(e tokenEntry, o string) tokenEntry { e.Origin = o; return e }
	cases := []struct {
		name  string
		w     wireState
		trust bool
		want  map[string]rejectReason // refused entries ("m/b", "b/x", "t/id") and why
	}{
		{"removal from an unknown origin", wireState{Members: map[string]memberEntry{"b": member(101, "evil", Removed)}},
			false, map[string]rejectReason{"m/b": rejectUnknownOrigin}},
		{"removal from a member", wireState{Members: map[string]memberEntry{"b": member(101, "a", Removed)}},
			false, nil},
		{"removal from a member that left since (known all the same)", wireState{Members: map[string]memberEntry{"b": member(101, "gone", Removed)}},
			false, nil},
		{"another member's address rewritten", wireState{Members: map[string]memberEntry{"b": member(101, "a", Joined)}},
			false, map[string]rejectReason{"m/b": rejectForeignWrite}},
		{"another member made leaving", wireState{Members: map[string]memberEntry{"b": member(101, "a", Leaving)}},
			false, map[string]rejectReason{"m/b": rejectForeignWrite}},
		{"own entry of a new member", wireState{Members: map[string]memberEntry{"d": member(101, "d", Joining)}},
			false, nil},
		{"tombstone of a member never heard of", wireState{Members: map[string]memberEntry{"z": member(101, "evil", Removed)}},
			false, nil},
		{"removal at 2^53", wireState{Members: map[string]memberEntry{"b": member(1<<53, "a", Removed)}},
			false, map[string]rejectReason{"m/b": rejectVersionJump}},
		{"own entry at 2^53", wireState{Members: map[string]memberEntry{"b": member(1<<53, "b", Joined)}},
			false, map[string]rejectReason{"m/b": rejectVersionJump}},
		{"just within the bound", wireState{Members: map[string]memberEntry{"b": member(100+maxVersionJump, "b", Joined)}},
			false, nil},
		{"just past the bound", wireState{Members: map[string]memberEntry{"b": member(101+maxVersionJump, "b", Joined)}},
			false, map[string]rejectReason{"m/b": rejectVersionJump}},
		{"versions climbing in steps", wireState{Members: map[string]memberEntry{
			"a": member(100+maxVersionJump, "a", Joined),
			"b": member(100+2*maxVersionJump, "b", Joined),
			"c": member(100+3*maxVersionJump, "c", Joined),
		}}, false, nil},
		{"a step too far refuses what is above it", wireState{Members: map[string]memberEntry{
			"a": member(100+maxVersionJump, "a", Joined),
			"b": member(101+2*maxVersionJump, "b", Joined),
			"c": member(101+3*maxVersionJump, "c", Joined),
		}}, false, map[string]rejectReason{"m/b": rejectVersionJump, "m/c": rejectVersionJump}},
		{"bucket from an unknown origin", wireState{Buckets: map[string]bucketEntry{"x": {Ver: 101, Origin: "evil", Deleted: true}}},
			false, map[string]rejectReason{"b/x": rejectUnknownOrigin}},
		{"bucket from a member", wireState{Buckets: map[string]bucketEntry{"y": {Ver: 101, Origin: "c", Props: []byte(`{}`)}}},
			false, nil},
		{"token from an unknown origin", wireState{Tokens: map[string]tokenEntry{"t1": withOrigin(token, "evil")}},
			false, map[string]rejectReason{"t/t1": rejectUnknownOrigin}},
		{"token from a member", wireState{Tokens: map[string]tokenEntry{"t1": withOrigin(token, "b")}},
			false, nil},
		{"a new member's bucket in the same message", wireState{
			Members: map[string]memberEntry{"d": member(101, "d", Joined)},
			Buckets: map[string]bucketEntry{"y": {Ver: 102, Origin: "d", Props: []byte(`{}`)}},
		}, false, map[string]rejectReason{"b/y": rejectUnknownOrigin}},
		{"the same from the node joined at start", wireState{
			Members: map[string]memberEntry{"d": member(101, "d", Joined)},
			Buckets: map[string]bucketEntry{"y": {Ver: 102, Origin: "d", Props: []byte(`{}`)}},
		}, true, nil},
		{"old news is not checked", wireState{Buckets: map[string]bucketEntry{"x": {Ver: 5, Origin: "evil", Deleted: true}}},
			false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := knownState()
			w := tc.w
			w.V = stateVersion
			var all []string
			for n := range w.Members {
				all = append(all, "m/"+n)
			}
			for n := range w.Buckets {
				all = append(all, "b/"+n)
			}
			for n := range w.Tokens {
				all = append(all, "t/"+n)
			}
			got := map[string]rejectReason{}
			for _, r := range s.admit(&w, tc.trust) {
				got[r.kind[:1]+"/"+r.name] = r.reason
			}
			if fmt.Sprint(got) != fmt.Sprint(orEmpty(tc.want)) {
				t.Fatalf("refused %v, want %v", got, tc.want)
			}
			// The refused entries are gone from w, the others stay.
			for _, k := range all {
				_, refused := got[k]
				var left bool
				switch k[0] {
				case 'm':
					_, left = w.Members[k[2:]]
				case 'b':
					_, left = w.Buckets[k[2:]]
				case 't':
					_, left = w.Tokens[k[2:]]
				}
				if left == refused {
					t.Errorf("%s: left in the message = %v, refused = %v", k, left, refused)
				}
			}
		})
	}
}

func orEmpty(m map[string]rejectReason) map[string]rejectReason {
	if m == nil {
		return map[string]rejectReason{}
	}
	return m
}

// TestAdmit_refusedEntryChangesNothing merges a message with a forged
// removal and an honest update: the honest one applies, the forged one
// neither applies nor moves the clock.
func TestAdmit_refusedEntryChangesNothing(t *testing.T) {
	s := knownState()
	w := wireState{V: stateVersion, Members: map[string]memberEntry{
		"b": member(1<<53, "evil", Removed),
		"c": member(101, "c", Leaving),
	}}
	if r := s.admit(&w, false); len(r) != 1 || r[0].name != "b" {
		t.Fatalf("refused %+v, want b alone", r)
	}
	news := s.merge(w)
	if _, ok := news.Members["b"]; ok || s.members["b"].Status != Joined {
		t.Errorf("b = %+v after a forged removal", s.members["b"])
	}
	if s.members["c"].Status != Leaving {
		t.Errorf("c = %+v, want the honest update applied", s.members["c"])
	}
	if s.clock != 101 {
		t.Errorf("clock = %d, want 101", s.clock)
	}
	if got := slices.Sorted(maps.Keys(news.Members)); !slices.Equal(got, []string{"c"}) {
		t.Errorf("news = %v, want [c]", got)
	}
}
