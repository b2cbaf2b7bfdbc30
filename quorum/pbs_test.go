package quorum

import (
	"context"
	"errors"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/dynamod/dynamod/pbs"
	"github.com/dynamod/dynamod/ring"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/versioning"
)

// TestPBS_stampedReplies: a replica stamps its replies exactly when the
// request asks, and the stamp is its clock between the request and the
// reply.
func TestPBS_stampedReplies(t *testing.T) {
	c := newSoloCoordinator(t)
	ctx := t.Context()
	k := storage.Key{Hash: 7, Bucket: "b", Key: "k"}
	cl := versioning.New(nil, versioning.Value{Data: []byte("v")})
	check := func(name string, stamp int64, want bool, from time.Time) {
		t.Helper()
		switch {
		case !want && stamp != 0:
			t.Errorf("%s: stamped %d, want no stamp", name, stamp)
		case want && (stamp < from.UnixNano() || stamp > time.Now().UnixNano()):
			t.Errorf("%s: stamp %d outside the call [%d, now]", name, stamp, from.UnixNano())
		}
	}

	for _, stamp := range []bool{false, true} {
		from := time.Now()
		msg := newPutBodyStamp(k, false, stamp, cl).b
		b, err := c.Serve(ctx, "peer", KindReplicate, msg)
		if err != nil {
			t.Fatal(err)
		}
		_, at, err := decodePutReply(b)
		if err != nil {
			t.Fatalf("replicate (stamp %v): %v", stamp, err)
		}
		check("replicate", at, stamp, from)
		if !stamp && len(b) != 2 {
			t.Errorf("unstamped replicate reply is %x, want the 2-byte form", b)
		}
	}
	for _, key := range []storage.Key{k, {Hash: 8, Bucket: "b", Key: "missing"}} {
		for _, stamp := range []bool{false, true} {
			req := encodeKey(key)
			if stamp {
				req = append(req, getStamp)
			}
			from := time.Now()
			b, err := c.Serve(ctx, "peer", KindGet, req)
			if err != nil {
				t.Fatal(err)
			}
			got, found, at, err := decodeGetReply(b)
			if err != nil {
				t.Fatalf("get %s (stamp %v): %v", key.Key, stamp, err)
			}
			check("get "+key.Key, at, stamp, from)
			if found != (key == k) || (found && !versioning.Equal(got, cl)) {
				t.Errorf("get %s (stamp %v): found %v, clock %v", key.Key, stamp, found, got)
			}
		}
	}
}

// TestPBS_olderPeers: replies without a stamp (an earlier version's)
// decode as before and record nothing; an earlier replica's refusal of a
// stamped get is an ErrBadRequest, which makes the coordinator stop asking.
func TestPBS_olderPeers(t *testing.T) {
	if d, at, err := decodePutReply([]byte{stOK, 1}); err != nil || !d || at != 0 {
		t.Errorf("old put reply: %v %v %v", d, at, err)
	}
	if _, found, at, err := decodeGetReply([]byte{stNotFound}); err != nil || found || at != 0 {
		t.Errorf("old get reply: %v %v %v", found, at, err)
	}
	// What an earlier replica answers to a get with a byte after the key.
	old := encodeErr(errMalformed)
	if _, _, _, err := decodeGetReply(old); !errors.Is(err, ErrBadRequest) {
		t.Errorf("refusal decodes as %v, want ErrBadRequest", err)
	}
	// Truncated or bare stamps are malformed, never a panic.
	for _, b := range [][]byte{{stStamped}, {stStamped, 1, 2}, appendStamp(nil, time.Now())} {
		if _, _, _, err := decodeGetReply(b); err == nil {
			t.Errorf("get reply %x accepted", b)
		}
		if _, _, err := decodePutReply(b); err == nil {
			t.Errorf("put reply %x accepted", b)
		}
	}
	var s peerSet
	if s.has("n2") {
		t.Fatal("empty set has n2")
	}
	s.set("n2", true)
	s.set("n3", true)
	s.set("n2", false)
	if s.has("n2") || !s.has("n3") {
		t.Errorf("set after changes: n2 %v n3 %v", s.has("n2"), s.has("n3"))
	}
}

// TestPBS_observe: a call's round trip splits at the replica's stamp; a
// stamp outside the call is clamped and counted; no stamp records nothing.
func TestPBS_observe(t *testing.T) {
	c := newSoloCoordinator(t)
	sent := time.Now()
	got := sent.Add(10 * time.Millisecond)
	c.observe(pbs.WriteRequest, pbs.WriteAck, sent, got, sent.Add(7*time.Millisecond).UnixNano())
	c.observe(pbs.ReadRequest, pbs.ReadResponse, sent, got, sent.Add(-time.Second).UnixNano()) // clock behind
	c.observe(pbs.ReadRequest, pbs.ReadResponse, sent, got, sent.Add(time.Second).UnixNano())  // clock ahead
	c.observe(pbs.ReadRequest, pbs.ReadResponse, sent, got, 0)
	snap := c.Latencies().Snapshot(got)
	if w, a := snap.Of(pbs.WriteRequest), snap.Of(pbs.WriteAck); len(w) != 1 || w[0] != 7*time.Millisecond || a[0] != 3*time.Millisecond {
		t.Errorf("write split %v / %v, want 7ms / 3ms", w, a)
	}
	r, s := snap.Of(pbs.ReadRequest), snap.Of(pbs.ReadResponse)
	if len(r) != 2 || r[0]+s[0] != 10*time.Millisecond || r[1]+s[1] != 10*time.Millisecond || r[0] != 0 || r[1] != 10*time.Millisecond {
		t.Errorf("clamped splits %v / %v, want 0+10ms and 10ms+0", r, s)
	}
	var pb dto.Metric
	if err := c.m.clockSkew.Write(&pb); err != nil {
		t.Fatal(err)
	}
	if n := pb.GetCounter().GetValue(); n != 2 {
		t.Errorf("clock skew counted %v times, want 2", n)
	}
}

// pbsPeer is a remote replica over a loopback Transport: another
// coordinator's Serve, optionally answering as an earlier version would
// (no stamps; a get with a byte after the key refused).
type pbsPeer struct {
	c     *Coordinator
	older bool
}

func (p pbsPeer) Call(ctx context.Context, to string, kind uint8, body []byte) ([]byte, error) {
	if p.older {
		switch kind {
		case KindGet:
			d := newDecoder(body)
			d.key()
			if err := d.End(); err != nil {
				return encodeErr(err), nil
			}
		case KindReplicate:
			m, err := decodePut(body)
			if err != nil {
				return encodeErr(err), nil
			}
			body = encodePut(m.key, m.sync, m.hintFor, m.raw)
		}
	}
	return p.c.Serve(ctx, "self", kind, append([]byte(nil), body...))
}

// TestPBS_coordinatorRecords: writes and reads through a coordinator with
// one remote replica record one sample of each kind per remote call; with
// a replica of an earlier version they record nothing and every read
// still succeeds.
func TestPBS_coordinatorRecords(t *testing.T) {
	for _, older := range []bool{false, true} {
		self, peer := newPairCoordinators(t, older)
		ctx := t.Context()
		for i := range 5 {
			key := string(rune('a' + i))
			if _, err := self.Put(ctx, "b", key, nil, versioning.Value{Data: []byte("v")}, WriteOptions{W: All}); err != nil {
				t.Fatal(err)
			}
			if _, err := self.Get(ctx, "b", key, ReadOptions{R: All}); err != nil {
				t.Fatalf("older %v: get: %v", older, err)
			}
		}
		snap := self.Latencies().Snapshot(time.Now())
		for k := pbs.WriteRequest; k <= pbs.ReadResponse; k++ {
			want := 5
			if older {
				want = 0
			}
			if n := snap.Count(k); n != want {
				t.Errorf("older %v: %v has %d samples, want %d", older, k, n, want)
			}
		}
		if n := peer.Latencies().Snapshot(time.Now()).Count(pbs.WriteRequest); n != 0 {
			t.Errorf("the replica recorded %d samples; only coordinators do", n)
		}
	}
}

// newPairCoordinators returns "self" and "peer", both replicas of every
// key, self reaching peer over pbsPeer (older: as an earlier version).
func newPairCoordinators(t *testing.T, older bool) (self, peer *Coordinator) {
	t.Helper()
	r, err := ring.New(ring.Config{Partitions: 16, Tokens: 8}, []string{"self", "peer"})
	if err != nil {
		t.Fatal(err)
	}
	members := testMembers{r, newTestNet()}
	props := DefaultProps()
	none := 0.0
	props.ReadRepairChance = &none
	start := func(name string, tr Transport) *Coordinator {
		st, err := storage.NewStore(storage.NewMemory())
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.Self = name
		c, err := New(cfg, st, members, tr, fixedBuckets(props))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); st.Close() })
		return c
	}
	peer = start("peer", noPeers{})
	self = start("self", pbsPeer{c: peer, older: older})
	return self, peer
}

// FuzzReplies feeds arbitrary peer replies to the get and put reply
// decoders: they must never panic, and a stamp comes only with a reply
// that decodes.
func FuzzReplies(f *testing.F) {
	cl := versioning.New(nil, versioning.Value{Data: []byte("x")})
	f.Add(storage.AppendObject([]byte{stOK}, cl))
	f.Add(storage.AppendObject(append(appendStamp(nil, time.Unix(1, 2)), stOK), cl))
	f.Add(append(appendStamp(nil, time.Unix(1, 2)), stNotFound))
	f.Add(append(appendStamp(nil, time.Unix(1, 2)), stOK, 1))
	f.Add([]byte{stOK, 0})
	f.Add(encodeErr(errMalformed))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, _, at, err := decodeGetReply(b); err != nil && at != 0 {
			t.Errorf("get reply %x: stamp %d with error %v", b, at, err)
		}
		if _, at, err := decodePutReply(b); err != nil && at != 0 {
			t.Errorf("put reply %x: stamp %d with error %v", b, at, err)
		}
	})
}
