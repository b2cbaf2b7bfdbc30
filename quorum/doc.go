// Package quorum coordinates client reads and writes across a key's
// replicas (docs/design.md, "Quorum coordination"): sloppy R/W quorums over the ring's preference list,
// forwarding of writes to a primary, read repair, hinted handoff, key
// listing, and the replica side of every node-to-node request.
//
// It reaches peers only through its [Transport] interface and learns
// liveness and ownership only through [Members]. Of dynamod it may import
// versioning, ring, storage, resolve, pbs, internal/wire, internal/jitter and
// internal/lifetime, never gossip, a transport, http, node, antientropy or transfer, and it uses
// storage's Store and codec but never constructs an engine (deps_test.go
// checks both). The decisions live in pure values fed one reply at a time
// (rounds.go: readRound, writeRound, repairPlan, hintOwed, over the
// R/W/PR/PW/DW counting of tally); get.go and put.go do the I/O.
//
// Dots are minted with per-incarnation actor epochs (see actors.go), so a
// coordinator whose local clock of a key is behind what it already minted
// never reuses a dot.
package quorum
