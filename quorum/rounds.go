package quorum

import "github.com/dynamod/dynamod/versioning"

// The decisions of a read and of a write, as pure values fed one reply at a
// time (etcd raft's Step and VoteResult are the model): the coordinator
// does the I/O (placement, fan-out, local store, hints, repair calls) and
// asks these what the replies so far mean. Each is tested message by
// message in rounds_test.go.

// readState is what a read's replies so far decide.
type readState int

const (
	readPending     readState = iota // wait for more replies
	readFound                        // answer with the merge of the found replies
	readNotFound                     // answer not found
	readUnavailable                  // R (or PR) can no longer be met
)

func (s readState) String() string {
	switch s {
	case readPending:
		return "pending"
	case readFound:
		return "found"
	case readNotFound:
		return "not found"
	case readUnavailable:
		return "unavailable"
	}
	return "unknown"
}

// readRound counts a read's replies against R and PR and merges the found
// ones. A not-found reply counts toward R only with notfound_ok; without
// it, enough definite answers still decide (Riak's basic quorum): r
// not-founds make a not-found, and r answers of which some found make the
// merge of the found ones. An error reply never counts.
type readRound struct {
	t          tally
	r, pr      int
	notFoundOK bool
	merged     versioning.Clock
	// found and notFound count the definite answers, definitePrimary
	// those of primaries.
	found, notFound, definitePrimary int
}

// newReadRound expects one reply from each target and needs r of them
// (pr from primaries).
func newReadRound(targets []target, r, pr int, notFoundOK bool) readRound {
	return readRound{t: newTally(len(targets), primaries(targets), r, pr, 0), r: r, pr: pr, notFoundOK: notFoundOK}
}

// primaries counts the primaries among ts.
func primaries(ts []target) int {
	n := 0
	for _, t := range ts {
		if t.primary {
			n++
		}
	}
	return n
}

// step records one replica's reply.
func (rr *readRound) step(rp getReply) {
	if rp.err == nil && rp.t.primary {
		rr.definitePrimary++
	}
	switch {
	case rp.err != nil:
		rr.t.add(rp.t.primary, false, false)
	case rp.found:
		rr.merged = mergeFound(rr.merged, rr.found == 0, rp.clock)
		rr.found++
		rr.t.add(rp.t.primary, true, false)
	default:
		rr.notFound++
		rr.t.add(rp.t.primary, rr.notFoundOK, false)
	}
}

// state says what the replies so far decide: readPending while R and PR
// can still be met and are not yet.
func (rr *readRound) state() readState {
	switch rr.t.result() {
	case voteWon:
		if rr.found == 0 {
			return readNotFound
		}
		return readFound
	case votePending:
		if !rr.t.done() {
			return readPending
		}
	}
	// R can no longer be met. Without notfound_ok, r definite answers
	// (pr of them from primaries) still decide, and while the replies
	// still due could make them up the read waits for them (r=all on a
	// key no replica has is a not found once every replica said so, not
	// unavailable at the first).
	if !rr.notFoundOK {
		definite := rr.found + rr.notFound
		switch {
		case definite >= rr.r && rr.definitePrimary >= rr.pr && rr.found == 0:
			return readNotFound
		case definite >= rr.r && rr.definitePrimary >= rr.pr:
			return readFound
		case definite+rr.t.pending >= rr.r && rr.definitePrimary+rr.t.pendingPrimary >= rr.pr:
			return readPending
		}
	}
	return readUnavailable
}

// result is the read's answer once state is readFound: the merge, with
// the count of replicas behind it.
func (rr *readRound) result() *Object {
	replicas := rr.t.ok
	if rr.t.result() != voteWon {
		replicas = rr.found + rr.notFound // decided by basic quorum
	}
	return &Object{Clock: rr.merged, Context: versioning.Join(rr.merged), Replicas: replicas}
}

// mergeFound folds a replica's clock into a read's merge of the clocks
// found so far (first: none yet). The first is taken as it is, and one
// equal to the merge changes nothing: Sync, which allocates and copies
// every value, runs only for replicas that differ. A clock from the store
// or the wire is canonical, so Sync with nothing, or with itself, would
// return it unchanged; clocks are shared read-only (like the store's
// cached ones), so the merge may be the replica's clock itself.
func mergeFound(merged versioning.Clock, first bool, c versioning.Clock) versioning.Clock {
	if first {
		return c
	}
	if versioning.Equal(merged, c) {
		return merged
	}
	return versioning.Sync(merged, c)
}

// repairPlan returns the merge of every found reply of a read (late ones
// included) and the replies whose replica is behind it: a different state
// or not found. Replies with errors are left alone, and with nothing found
// there is nothing to repair.
func repairPlan(got []getReply) (versioning.Clock, []getReply) {
	var merged versioning.Clock
	any := false
	for _, rp := range got {
		if rp.err == nil && rp.found {
			merged = mergeFound(merged, !any, rp.clock)
			any = true
		}
	}
	if !any {
		return merged, nil
	}
	var behind []getReply
	for _, rp := range got {
		if rp.err == nil && !(rp.found && versioning.Equal(rp.clock, merged)) {
			behind = append(behind, rp)
		}
	}
	return merged, behind
}

// writeRound counts a write's acks against W, PW and DW. The coordinator's
// own store counts first (if it is a target); acks of pending targets (new
// owners still receiving the partition) never count.
type writeRound struct {
	t tally
}

// newWriteRound expects the coordinator's local write and one ack from
// each target other than it. A coordinator that is not a target (the
// sender saw another ring) writes locally but does not count, so it is
// one more expected reply that never counts.
func newWriteRound(targets []target, coordIsTarget bool, w, pw, dw int) writeRound {
	expected := len(targets)
	if !coordIsTarget {
		expected++
	}
	return writeRound{t: newTally(expected, primaries(targets), w, pw, dw)}
}

// local records the coordinator's own write: self is its target (the zero
// target if it is none), durable whether it was synced.
func (wr *writeRound) local(self target, coordIsTarget, durable bool) {
	wr.t.add(self.primary, coordIsTarget, durable)
}

// step records one replica's ack.
func (wr *writeRound) step(a putAck) {
	if !a.t.pending {
		wr.t.add(a.t.primary, a.err == nil, a.durable)
	}
}

// result says whether W, PW and DW are met, can still be, or cannot.
func (wr *writeRound) result() voteResult { return wr.t.result() }

// hintOwed names the member a failed ack leaves a hint for: the primary a
// fallback stood in for, or the replica itself. ok is false for an ack
// that succeeded.
func hintOwed(a putAck) (member string, ok bool) {
	if a.err == nil {
		return "", false
	}
	if a.t.hintFor != "" {
		return a.t.hintFor, true
	}
	return a.t.node, true
}
