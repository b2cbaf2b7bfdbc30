package quorum

// target is one replica a request goes to.
type target struct {
	node string
	// primary: node is one of the key's first n members.
	primary bool
	// hintFor names the down primary a fallback stands in for; "" for a
	// primary.
	hintFor string
	// pending: node is a new owner still receiving the key's partition;
	// it gets writes, but its acks do not count.
	pending bool
}

// Target is one replica of a key's sloppy preference list, as /cluster and
// the coordinator see it.
type Target struct {
	Node string
	// HintFor names the down primary a fallback stands in for; "" for a
	// live primary.
	HintFor string
}

// Targets returns a key's sloppy preference list (see sloppyTargets) for
// display: the live primaries and the fallbacks standing in for down ones,
// and the down primaries no fallback covers.
func Targets(walk []string, n int, alive func(string) bool) (targets []Target, unhinted []string) {
	ts, unhinted := sloppyTargets(walk, n, alive)
	targets = make([]Target, len(ts))
	for i, t := range ts {
		targets[i] = Target{Node: t.node, HintFor: t.hintFor}
	}
	return targets, unhinted
}

// sloppyTargets picks the replicas for a key from its preference walk: each
// of the first n members that is alive, and for each one that is down the
// next live member after them (a fallback, carrying a hint). It also returns
// the down primaries for which no fallback was left; the coordinator keeps
// their hints itself. Pure.
func sloppyTargets(walk []string, n int, alive func(string) bool) (targets []target, unhinted []string) {
	if n > len(walk) {
		n = len(walk)
	}
	targets = make([]target, 0, n)
	next := n // next fallback candidate in walk
	for _, node := range walk[:n] {
		if alive(node) {
			targets = append(targets, target{node: node, primary: true})
			continue
		}
		for next < len(walk) && !alive(walk[next]) {
			next++
		}
		if next < len(walk) {
			targets = append(targets, target{node: walk[next], hintFor: node})
			next++
			continue
		}
		unhinted = append(unhinted, node)
	}
	return targets, unhinted
}
