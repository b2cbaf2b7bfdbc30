package quorum

import (
	"encoding/binary"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynamod/dynamod/pbs"
)

// Staleness samples (docs/design.md, "Staleness (PBS)").
//
// The coordinator times every replicate and every get it sends to a peer
// and splits the round trip into its two one-way parts with the replica's
// wall clock, which the replica puts in its reply (stStamped) when it
// applied the write or read its store: request = stamp - sent, response
// = the round trip - request. The round trip is measured on this node's
// monotonic clock and never depends on the peer's; the split assumes the
// two wall clocks agree within a few ms (NTP), as Bailis et al.'s
// Cassandra instrumentation did. A split that falls outside [0, round
// trip] (a clock off by more than that) is clamped to it and counted in
// dynamod_quorum_pbs_clock_skew_total.
//
// Calls to this node itself are not timed: they send no message. The
// model (package pbs) knows that the write's coordinator applies it at
// once and that a read's coordinator reads itself at once.
//
// A replica stamps a reply only when the request asks: a replicate sets
// putStamp in its flags, which earlier versions ignore (they answer
// unstamped and nothing is recorded); a get appends getStamp after its
// key, which earlier versions refuse as malformed, so the coordinator
// asks only peers whose replicate replies were stamped (c.stampers), and
// forgets a peer that refuses one. A coordinator of an earlier version
// never asks, so it never gets a reply it cannot read.

// stampLen is the bytes a stamp prefixes a reply with: the status
// stStamped and 8 bytes of Unix ns.
const stampLen = 9

// appendStamp appends the stamp of now to b.
func appendStamp(b []byte, now time.Time) []byte {
	return binary.BigEndian.AppendUint64(append(b, stStamped), uint64(now.UnixNano()))
}

// cutStamp returns the stamp b starts with (0 if none) and the reply after
// it.
func cutStamp(b []byte) (int64, []byte) {
	if len(b) < stampLen || b[0] != stStamped {
		return 0, b
	}
	return int64(binary.BigEndian.Uint64(b[1:stampLen])), b[stampLen:]
}

// Latencies returns the coordinator's staleness samples: the one-way
// latencies of its replicates and gets to peers (pbs.Kind). Safe for
// concurrent use.
func (c *Coordinator) Latencies() *pbs.Samples { return c.pbs }

// observe records the two one-way latencies of a call sent at sent and
// answered at got, which the replica stamped at stamp (Unix ns; 0: not
// stamped, nothing is recorded).
func (c *Coordinator) observe(req, resp pbs.Kind, sent, got time.Time, stamp int64) {
	if stamp == 0 {
		return
	}
	rtt := got.Sub(sent) // monotonic
	if rtt < 0 {
		return
	}
	oneWay := time.Duration(stamp - sent.UnixNano())
	if oneWay < 0 || oneWay > rtt {
		oneWay = min(max(oneWay, 0), rtt)
		c.m.clockSkew.Inc()
	}
	c.pbs.Record(req, oneWay, got)
	c.pbs.Record(resp, rtt-oneWay, got)
}

// peerSet is a set of peers, each with the time it was added: those known
// to stamp their replies (whose replicate replies were stamped), or those
// that refused a digest read. Reads are lock-free (one atomic load and a
// map lookup); a change copies the map.
type peerSet struct {
	// mu serializes changes of m.
	mu sync.Mutex
	m  atomic.Pointer[map[string]time.Time]
}

// has reports whether peer is in the set.
func (s *peerSet) has(peer string) bool {
	_, ok := s.since(peer)
	return ok
}

// since reports when peer was added, if it is in the set.
func (s *peerSet) since(peer string) (time.Time, bool) {
	m := s.m.Load()
	if m == nil {
		return time.Time{}, false
	}
	t, ok := (*m)[peer]
	return t, ok
}

// set adds peer to the set (on), as of now, or removes it. Adding a peer
// already in the set keeps its time (it costs a map lookup).
func (s *peerSet) set(peer string, on bool) {
	if s.has(peer) == on {
		return
	}
	s.change(peer, on)
}

// refresh adds peer to the set as of now, or moves its time to now.
func (s *peerSet) refresh(peer string) { s.change(peer, true) }

func (s *peerSet) change(peer string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]time.Time)
	if m := s.m.Load(); m != nil {
		maps.Copy(next, *m)
	}
	if on {
		next[peer] = time.Now()
	} else {
		delete(next, peer)
	}
	s.m.Store(&next)
}
