// Package pbs estimates probabilistically bounded staleness (Bailis et al.,
// "Probabilistically Bounded Staleness for Practical Partial Quorums",
// VLDB 2012) from live latency samples: how likely a read started t
// milliseconds after a write's acknowledgement is to return that write or a
// newer one (t-visibility), and how many versions behind a read can be
// (k-staleness). docs/design.md, "Staleness (PBS)", has the model and how
// the node feeds it.
//
// [Samples] keeps bounded, time-windowed samples of the four one-way
// latencies of the WARS model: W (the coordinator sends a write to a
// replica until the replica applied it), A (the replica's ack back), R
// (the coordinator sends a read until the replica read its store) and S
// (the replica's answer back). Recording is cheap and safe for concurrent
// use: it is on the path of every replica call.
//
// [Estimate] runs the model by Monte Carlo over a [Snapshot] of the
// samples, for every R and W in 1..N at once, the way dynamod coordinates
// ([Model]): the write's coordinator is a replica that applied the write
// before sending it, the read asks R replicas in preference order (itself
// first when it is one) and the others after the speculative-read delay or
// for the full-read share, and counts the first R answers.
// [KStaleness] and [ExpectedVersionsBehind] are Bailis's closed forms for
// quorums of random replicas.
//
// The package is pure apart from a mutex: it does no I/O, reads no clock
// (the caller passes the time of each sample and of each snapshot), draws
// randomness only from the *rand.Rand its caller passes, starts no
// goroutines, logs nothing and imports no other dynamod package
// (deps_test.go).
package pbs
