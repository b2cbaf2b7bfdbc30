package quorum

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dynamod/dynamod/versioning"
)

// Replies for the round tests: a clock of one value written by actor a
// at counter n, and the replies of a primary (p) or a fallback (f).
func clockOf(actor byte, n uint64, v string) versioning.Clock {
	cl := versioning.Clock{}
	for range n {
		cl = versioning.Update(versioning.New(versioning.Join(cl), versioning.Value{Data: []byte(v)}), cl, versioning.ActorID(actor))
	}
	return cl
}

var errReplica = errors.New("replica timed out")

func found(primary bool, cl versioning.Clock) getReply {
	return getReply{t: target{node: "x", primary: primary}, clock: cl, found: true}
}
func notFound(primary bool) getReply {
	return getReply{t: target{node: "x", primary: primary}}
}
func failed(primary bool) getReply {
	return getReply{t: target{node: "x", primary: primary}, err: errReplica}
}

func targetsOf(spec string) []target {
	var ts []target
	for i, c := range spec {
		ts = append(ts, target{node: fmt.Sprint("n", i), primary: c == 'p'})
	}
	return ts
}

// TestReadRound feeds a read's replies one at a time and checks the state
// after each.
func TestReadRound(t *testing.T) {
	a1, a2, b1 := clockOf(1, 1, "a1"), clockOf(1, 2, "a2"), clockOf(2, 1, "b1")
	tests := []struct {
		name       string
		targets    string // p primary, f fallback
		r, pr      int
		notFoundOK bool
		replies    []getReply
		want       []readState // after each reply; want[0] before any
		values     string      // the answer's values when found
		replicas   int
	}{
		{"r=2 two found answers at the second", "ppp", 2, 0, true,
			[]getReply{found(true, a1), found(true, a2)},
			[]readState{readPending, readPending, readFound}, "a2", 2},
		{"r=1 answers at the first", "ppp", 1, 0, true,
			[]getReply{found(true, a1)},
			[]readState{readPending, readFound}, "a1", 1},
		{"concurrent values are siblings", "ppp", 2, 0, true,
			[]getReply{found(true, a1), found(true, b1)},
			[]readState{readPending, readPending, readFound}, "a1 b1", 2},
		{"not found counts with notfound_ok", "ppp", 2, 0, true,
			[]getReply{notFound(true), found(true, a1)},
			[]readState{readPending, readPending, readFound}, "a1", 2},
		{"two not found with notfound_ok", "ppp", 2, 0, true,
			[]getReply{notFound(true), notFound(true)},
			[]readState{readPending, readPending, readNotFound}, "", 0},
		{"errors never count", "ppp", 2, 0, true,
			[]getReply{failed(true), found(true, a1), failed(true)},
			[]readState{readPending, readPending, readPending, readUnavailable}, "", 0},
		{"basic quorum: two not found without notfound_ok", "ppp", 2, 0, false,
			[]getReply{notFound(true), notFound(true)},
			[]readState{readPending, readPending, readNotFound}, "", 0},
		{"basic quorum: found then not found waits for the third", "ppp", 2, 0, false,
			[]getReply{found(true, a1), notFound(true), notFound(true)},
			[]readState{readPending, readPending, readPending, readFound}, "a1", 3},
		{"without notfound_ok a found reply after a not found wins", "ppp", 2, 0, false,
			[]getReply{notFound(true), found(true, a1), found(true, a2)},
			[]readState{readPending, readPending, readPending, readFound}, "a2", 2},
		{"r=all without notfound_ok: not found only when all say so", "ppp", 3, 0, false,
			[]getReply{notFound(true), notFound(true), notFound(true)},
			[]readState{readPending, readPending, readPending, readNotFound}, "", 0},
		{"r=all without notfound_ok: one error makes it unavailable", "ppp", 3, 0, false,
			[]getReply{notFound(true), failed(true)},
			[]readState{readPending, readPending, readUnavailable}, "", 0},
		{"pr counts primaries only", "ppf", 2, 2, true,
			[]getReply{found(false, a1), failed(true)},
			[]readState{readPending, readPending, readUnavailable}, "", 0},
		{"pr met", "ppf", 2, 2, true,
			[]getReply{found(false, a1), found(true, a1), found(true, a2)},
			[]readState{readPending, readPending, readPending, readFound}, "a2", 3},
		{"pr beyond the primaries fails at once", "pff", 1, 2, true,
			nil,
			[]readState{readUnavailable}, "", 0},
		{"basic quorum keeps pr", "pff", 2, 1, false,
			[]getReply{notFound(false), notFound(false), failed(true)},
			[]readState{readPending, readPending, readPending, readUnavailable}, "", 0},
		{"too few targets fails at once", "p", 2, 0, true,
			nil,
			[]readState{readUnavailable}, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rr := newReadRound(targetsOf(tc.targets), tc.r, tc.pr, tc.notFoundOK)
			if got := rr.state(); got != tc.want[0] {
				t.Fatalf("before any reply: %v, want %v", got, tc.want[0])
			}
			for i, rp := range tc.replies {
				rr.step(rp)
				if got := rr.state(); got != tc.want[i+1] {
					t.Fatalf("after reply %d: %v, want %v", i+1, got, tc.want[i+1])
				}
			}
			if rr.state() != readFound {
				return
			}
			obj := rr.result()
			if got := valuesOf(obj.Clock); got != tc.values {
				t.Errorf("values %q, want %q", got, tc.values)
			}
			if obj.Replicas != tc.replicas {
				t.Errorf("replicas %d, want %d", obj.Replicas, tc.replicas)
			}
			if !versioning.Equal(versioning.Sync(obj.Clock, versioning.Clock{}), obj.Clock) {
				t.Errorf("answer is not a merged clock")
			}
		})
	}
}

func valuesOf(cl versioning.Clock) string {
	var out []string
	for _, v := range versioning.Values(cl) {
		out = append(out, string(v.Data))
	}
	return strings.Join(out, " ")
}

func TestRepairPlan(t *testing.T) {
	a1, a2, b1 := clockOf(1, 1, "a1"), clockOf(1, 2, "a2"), clockOf(2, 1, "b1")
	at := func(node string, rp getReply) getReply { rp.t.node = node; return rp }
	tests := []struct {
		name   string
		got    []getReply
		values string
		behind string
	}{
		{"all equal: nothing", []getReply{at("n1", found(true, a2)), at("n2", found(true, a2))}, "a2", ""},
		{"an old copy and a missing one", []getReply{at("n1", found(true, a2)), at("n2", found(true, a1)), at("n3", notFound(true))}, "a2", "n2 n3"},
		{"siblings go to both sides", []getReply{at("n1", found(true, a1)), at("n2", found(true, b1))}, "a1 b1", "n1 n2"},
		{"errors are left alone", []getReply{at("n1", found(true, a2)), at("n2", failed(true))}, "a2", ""},
		{"nothing found: nothing to repair", []getReply{at("n1", notFound(true)), at("n2", failed(true))}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			merged, behind := repairPlan(tc.got)
			if got := valuesOf(merged); got != tc.values {
				t.Errorf("merge %q, want %q", got, tc.values)
			}
			var names []string
			for _, rp := range behind {
				names = append(names, rp.t.node)
			}
			if got := strings.Join(names, " "); got != tc.behind {
				t.Errorf("behind %q, want %q", got, tc.behind)
			}
		})
	}
}

// TestWriteRound feeds a write's acks one at a time.
func TestWriteRound(t *testing.T) {
	ok := func(primary, durable bool) putAck { return putAck{t: target{primary: primary}, durable: durable} }
	bad := func(primary bool) putAck { return putAck{t: target{primary: primary}, err: errReplica} }
	pendingOK := putAck{t: target{pending: true}}
	tests := []struct {
		name          string
		targets       string
		coordIsTarget bool
		w, pw, dw     int
		localDurable  bool
		acks          []putAck
		want          []voteResult // want[0] after the local write
	}{
		{"w=2: the local write and one ack", "ppp", true, 2, 0, 0, false,
			[]putAck{ok(true, false)}, []voteResult{votePending, voteWon}},
		{"w=1: the local write alone", "ppp", true, 1, 0, 0, false,
			nil, []voteResult{voteWon}},
		{"w=all: one failure loses", "ppp", true, 3, 0, 0, false,
			[]putAck{ok(true, false), bad(true)}, []voteResult{votePending, votePending, voteLost}},
		{"pending owners never count", "ppp", true, 3, 0, 0, false,
			[]putAck{pendingOK, ok(true, false), ok(true, false)}, []voteResult{votePending, votePending, votePending, voteWon}},
		{"a coordinator outside the targets does not count", "ppp", false, 2, 0, 0, false,
			[]putAck{ok(true, false), ok(true, false)}, []voteResult{votePending, votePending, voteWon}},
		{"pw needs primary acks", "pfp", true, 2, 2, 0, false,
			[]putAck{ok(false, false), ok(true, false)}, []voteResult{votePending, votePending, voteWon}},
		{"pw lost when the other primary fails", "pfp", true, 2, 2, 0, false,
			[]putAck{bad(true)}, []voteResult{votePending, voteLost}},
		{"dw counts synced acks", "ppp", true, 2, 0, 2, true,
			[]putAck{ok(true, false), ok(true, true)}, []voteResult{votePending, votePending, voteWon}},
		{"dw lost", "ppp", true, 1, 0, 2, false,
			[]putAck{ok(true, true), bad(true)}, []voteResult{votePending, votePending, voteLost}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := targetsOf(tc.targets)
			wr := newWriteRound(ts, tc.coordIsTarget, tc.w, tc.pw, tc.dw)
			self := target{}
			if tc.coordIsTarget {
				self = ts[0]
			}
			wr.local(self, tc.coordIsTarget, tc.localDurable)
			if got := wr.result(); got != tc.want[0] {
				t.Fatalf("after the local write: %v, want %v", got, tc.want[0])
			}
			for i, a := range tc.acks {
				wr.step(a)
				if got := wr.result(); got != tc.want[i+1] {
					t.Fatalf("after ack %d: %v, want %v", i+1, got, tc.want[i+1])
				}
			}
		})
	}
}

func TestHintOwed(t *testing.T) {
	tests := []struct {
		a    putAck
		want string
		ok   bool
	}{
		{putAck{t: target{node: "n2", primary: true}}, "", false},
		{putAck{t: target{node: "n2", primary: true}, err: errReplica}, "n2", true},
		{putAck{t: target{node: "n4", hintFor: "n2"}, err: errReplica}, "n2", true},
		{putAck{t: target{node: "n5", pending: true}, err: errReplica}, "n5", true},
	}
	for _, tc := range tests {
		got, ok := hintOwed(tc.a)
		if got != tc.want || ok != tc.ok {
			t.Errorf("hintOwed(%+v) = %q %v, want %q %v", tc.a, got, ok, tc.want, tc.ok)
		}
	}
}

// TestReadOrder: this node first, then primaries, then fallbacks, each in
// preference order.
func TestReadOrder(t *testing.T) {
	ts := []target{{node: "a", primary: true}, {node: "d", hintFor: "b"}, {node: "c", primary: true}, {node: "e", hintFor: "x"}}
	for _, tc := range []struct{ self, want string }{
		{"a", "a c d e"}, {"c", "c a d e"}, {"e", "e a c d"}, {"z", "a c d e"},
	} {
		var got []string
		for _, t := range readOrder(ts, tc.self) {
			got = append(got, t.node)
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("readOrder from %s = %q, want %q", tc.self, g, tc.want)
		}
	}
}

// TestMergeFound: folding replies with mergeFound (the first as it is,
// equal ones skipped) gives what folding them with Sync from nothing
// gives, for equal, descending, concurrent and sibling-carrying clocks in
// every order.
func TestMergeFound(t *testing.T) {
	a1 := clockOf('a', 1, "x")
	a3 := clockOf('a', 3, "y")
	b2 := clockOf('b', 2, "z")
	sib := versioning.Sync(a3, b2) // two siblings
	later := versioning.Update(versioning.New(versioning.Join(sib), versioning.Value{Data: []byte("w")}), sib, 'c')
	cases := [][]versioning.Clock{
		{a1}, {a1, a1}, {a1, a3}, {a3, a1}, {a3, b2}, {b2, a3, a3},
		{sib, a1}, {a1, sib, b2}, {later, sib}, {sib, later, a1, b2}, {sib, sib, sib},
	}
	for i, cs := range cases {
		var want, got versioning.Clock
		for k, c := range cs {
			want = versioning.Sync(want, c)
			got = mergeFound(got, k == 0, c)
		}
		if !versioning.Equal(got, want) {
			t.Errorf("case %d: mergeFound = %+v, Sync = %+v", i, got, want)
		}
		rr := newReadRound(targetsOf(strings.Repeat("p", len(cs))), len(cs), 0, true)
		for _, c := range cs {
			rr.step(found(true, c))
		}
		if !versioning.Equal(rr.result().Clock, want) {
			t.Errorf("case %d: read round merged %+v, want %+v", i, rr.result().Clock, want)
		}
		replies := make([]getReply, len(cs))
		for k, c := range cs {
			replies[k] = found(true, c)
		}
		merged, behind := repairPlan(replies)
		if !versioning.Equal(merged, want) {
			t.Errorf("case %d: repairPlan merged %+v, want %+v", i, merged, want)
		}
		for _, rp := range behind {
			if versioning.Equal(rp.clock, want) {
				t.Errorf("case %d: a replica equal to the merge is listed behind", i)
			}
		}
	}
}
