package gossip

import (
	"cmp"
	"slices"
	"strings"
)

// Validation of the cluster-state entries peers send, before they are
// merged. decodeState checks each entry's shape and rejects a malformed
// message whole; admit then decides, entry by entry, whether this node may
// apply it, and drops the ones it may not. The rest of the message still
// applies: entries are independent (the merge is a per-entry max), and a
// push-pull carries the whole state, so refusing it whole for one entry
// would stop a node from converging at all.
//
// Every rule is monotone: an entry refused now is accepted once this node
// knows more (its origin's own entry, a clock that caught up), never the
// reverse. Rules that look at what can be undone (an origin that has left
// since) would make nodes that heard an entry at different times disagree
// for good, so there are none.
//
// Without encryption a forger can still name a known member as the origin,
// or write a new member's own entry; the gossip key keeps forgers out.
// Validation bounds the damage of what gets through and of a member that
// misbehaves.

// maxVersionJump bounds how far ahead of this node's Lamport clock a
// peer's entry may be. The clocks of honest nodes advance by one per write
// and by merging what they hear, so no entry is ever this far ahead of
// the others; one forged entry at 2^53 would otherwise lift every clock
// to the top of the range (maxVersion) so that no node could write again
// and a restart would refuse its own state file.
const maxVersionJump = 1 << 32

// rejectReason says why an entry was refused: the label of
// dynamod_gossip_rejected_entries_total.
type rejectReason string

const (
	// rejectUnknownOrigin: the entry's origin is not a member this node
	// knows (in its state under any status), and the entry is a bucket,
	// a token, or another member's removal.
	rejectUnknownOrigin rejectReason = "unknown_origin"
	// rejectForeignWrite: an entry about member M written by another node
	// that is not M's removal. Only M writes its own addresses and status;
	// others only remove it (Gossip.Remove).
	rejectForeignWrite rejectReason = "foreign_write"
	// rejectVersionJump: the version is more than maxVersionJump ahead of
	// this node's clock and of the entries of the message admitted before.
	rejectVersionJump rejectReason = "version_jump"
)

var rejectReasons = []rejectReason{rejectUnknownOrigin, rejectForeignWrite, rejectVersionJump, rejectUnverified}

// rejection is one refused entry, for the log.
type rejection struct {
	kind   string // "member", "bucket", "token"
	name   string
	origin string
	ver    uint64
	reason rejectReason
}

// candidate is an entry of a message that would change the state.
type candidate struct {
	kind   string
	name   string
	origin string
	ver    uint64
	// foreign is set for a member entry written by another node; removal
	// says whether it removes the member.
	foreign, removal bool
}

// admit removes from w the entries this node must not apply and returns
// them. w must have passed decodeState. Only entries that would change s
// are checked (merging the others changes nothing), in version order, so a
// message whose versions climb step by step is admitted whole whatever the
// local clock. trustSender makes the members named in w count as known: a
// node's state is empty before its first join, and New's joins are to the
// addresses it was told to join.
//
// The rules:
//   - a member's own entry (origin == name) is always admitted: that is
//     how a new node enters the cluster;
//   - an entry about member M from another origin must remove M
//     (rejectForeignWrite), and if M is known here, come from a known
//     origin (rejectUnknownOrigin); a tombstone of a member this node never
//     heard of takes nothing from anyone;
//   - a bucket or token entry must come from a known origin;
//   - no entry may be more than maxVersionJump ahead (rejectVersionJump).
func (s *clusterState) admit(w *wireState, trustSender bool) []rejection {
	var cands []candidate
	for name, e := range w.Members {
		if cur, ok := s.members[name]; !ok || compareMember(cur, e) < 0 {
			foreign := e.Origin != name
			cands = append(cands, candidate{kind: "member", name: name, origin: e.Origin, ver: e.Ver,
				foreign: foreign, removal: e.Status == Removed})
		}
	}
	for name, e := range w.Buckets {
		if cur, ok := s.buckets[name]; !ok || compareBucket(cur, e) < 0 {
			cands = append(cands, candidate{kind: "bucket", name: name, origin: e.Origin, ver: e.Ver})
		}
	}
	for id, e := range w.Tokens {
		if cur, ok := s.tokens[id]; !ok || compareToken(cur, e) < 0 {
			cands = append(cands, candidate{kind: "token", name: id, origin: e.Origin, ver: e.Ver})
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.ver, b.ver), strings.Compare(a.kind, b.kind), strings.Compare(a.name, b.name))
	})
	known := func(name string) bool {
		if _, ok := s.members[name]; ok {
			return true
		}
		_, ok := w.Members[name]
		return ok && trustSender
	}
	var out []rejection
	bound := s.clock
	for _, c := range cands {
		var reason rejectReason
		switch {
		case c.ver > bound && c.ver-bound > maxVersionJump:
			reason = rejectVersionJump
		case c.kind == "member" && c.foreign && !c.removal:
			reason = rejectForeignWrite
		case c.kind == "member" && c.foreign:
			if _, subject := s.members[c.name]; subject && !known(c.origin) {
				reason = rejectUnknownOrigin
			}
		case c.kind != "member" && !known(c.origin):
			reason = rejectUnknownOrigin
		}
		if reason == "" {
			bound = max(bound, c.ver)
			continue
		}
		switch c.kind {
		case "member":
			delete(w.Members, c.name)
		case "bucket":
			delete(w.Buckets, c.name)
		case "token":
			delete(w.Tokens, c.name)
		}
		out = append(out, rejection{kind: c.kind, name: c.name, origin: c.origin, ver: c.ver, reason: reason})
	}
	return out
}

// admitLocked runs admit on a message from a peer and counts and logs what
// it refused. g.mu must be held.
func (g *Gossip) admitLocked(w *wireState, source string) {
	rejected := g.state.admit(w, g.starting && source == "pushpull")
	for _, r := range rejected {
		g.metrics.rejectedEntries.WithLabelValues(string(r.reason)).Inc()
	}
	if len(rejected) > 0 {
		r := rejected[0]
		g.log.Warn("refused cluster-state entries from a peer", "source", source, "from", w.From,
			"refused", len(rejected), "reason", string(r.reason), "kind", r.kind, "name", r.name,
			"origin", r.origin, "ver", r.ver, "clock", g.state.clock)
	}
}
