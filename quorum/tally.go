package quorum

// voteResult is the state of a quorum count.
type voteResult int

const (
	votePending voteResult = 1 + iota // not decided yet
	voteWon                           // every requirement is met
	voteLost                          // the requirements can no longer be met
)

func (v voteResult) String() string {
	switch v {
	case votePending:
		return "pending"
	case voteWon:
		return "won"
	case voteLost:
		return "lost"
	}
	return "unknown"
}

// tally counts replica replies against R/W, PR/PW and DW. It is a pure value:
// the coordinator feeds it replies and asks for the result (etcd's
// quorum.VoteResult, extended with primary and durable counts).
type tally struct {
	// requirements
	need, needPrimary, needDurable int
	// targets still expected to answer, split by kind
	pending, pendingPrimary int
	// replies counted so far
	ok, okPrimary, okDurable int
	failed                   int
}

// newTally expects one reply from each of targets replicas, primaries of
// them primaries.
func newTally(targets, primaries, need, needPrimary, needDurable int) tally {
	return tally{
		need: need, needPrimary: needPrimary, needDurable: needDurable,
		pending: targets, pendingPrimary: primaries,
	}
}

// add records one reply. ok says whether it counts toward the quorum;
// durable whether the replica fsynced.
func (t *tally) add(primary, ok, durable bool) {
	t.pending--
	if primary {
		t.pendingPrimary--
	}
	if !ok {
		t.failed++
		return
	}
	t.ok++
	if primary {
		t.okPrimary++
	}
	if durable {
		t.okDurable++
	}
}

// result says whether the requirements are met, can still be met, or not.
// Durable acks are only counted from ok replies; a reply that might still
// come is assumed to be ok, primary if its target is, and durable.
func (t *tally) result() voteResult {
	if t.ok >= t.need && t.okPrimary >= t.needPrimary && t.okDurable >= t.needDurable {
		return voteWon
	}
	if t.ok+t.pending < t.need || t.okPrimary+t.pendingPrimary < t.needPrimary ||
		t.okDurable+t.pending < t.needDurable {
		return voteLost
	}
	return votePending
}

// done reports whether every expected reply has arrived.
func (t *tally) done() bool { return t.pending <= 0 }
