// Package node builds one dynamod node from its parts and runs it: it wires
// the store, the coordinator (package quorum), anti-entropy, partition
// transfers and the ownership view over the cluster's membership, owns
// their start and stop order, and implements the http package's Backend
// (docs/design.md, "Packages and their imports").
//
// # Who owns what
//
// The caller builds the [Parts] (cmd/dynamod: goleveldb, TCP, memberlist;
// internal/clustertest: the memory engine and network, static membership)
// and hands them to [New]:
//
//   - Parts.Engine is the node's once New has validated the Config and the
//     Parts: [Node.Close] closes it through the store, and so does New when
//     it fails after that.
//   - Parts.Members and Parts.Transport stay the caller's: the node uses
//     them and never closes them.
//   - Parts.Closers are run by Close alone, in order, at their point of
//     the shutdown (cmd/dynamod: gossip leave, gossip, transport). A New
//     that fails runs none of them: the caller closes what it made.
//   - Config.Resolvers stays the caller's; without one the node makes a
//     registry of the built-in resolvers and Close closes it.
//   - Config.Registry receives the metrics of the node and of its parts,
//     which register them once: one registry serves one node.
//
// # Start order
//
// New validates the Config, then builds, each from the ones before: the
// storage.Store over the engine; the first ownership view (the ring) from
// Members; the resolver registry; the coordinator; anti-entropy, which
// reads the store through the coordinator; and the transfer manager, which
// verifies received partitions with anti-entropy exchanges when
// anti-entropy runs. It registers the node's gauges and the storage health
// watch, then starts the loops, all stopped by one context: the membership
// watch (a new view and bucket properties on every Members change), hinted
// handoff, transfers and anti-entropy (which builds its trees first).
//
// Two construction cycles are broken late:
//
//   - The coordinator reports every local change to anti-entropy's trees
//     (quorum.Config.OnChange), but anti-entropy is built after the
//     coordinator it reads through: New passes a function that calls
//     through an atomic pointer, set once anti-entropy exists. No change
//     happens before, since nothing reaches the coordinator while New runs.
//   - The transport is built before the node, yet its handler is
//     [Node.Serve]: the caller gives it a handler that waits until New has
//     returned (cmd/dynamod and internal/clustertest close a ready channel
//     then), so no peer request reaches a half-built node.
//
// # Stop order
//
// [Node.Close] undoes New in reverse, once: it stops the loops and waits
// for them; closes the coordinator, which waits for its background work
// (repairs, hint writes, the rest of write fan-outs); closes the resolver
// registry the node made; runs the Closers (gossip leaves the cluster, the
// transport stops and waits for its handlers); and closes the store, and
// with it the engine. It returns every error joined, and the same on later
// calls.
//
// # Errors in New
//
// New returns no node and an error. It first validates the Config
// (including the quorum and anti-entropy configs, with the names New
// fills in) and the Parts (Engine, Members and Transport set); an error
// there is reported before any part is touched, so the engine is still
// the caller's to close (cmd/dynamod validates before it opens one).
// After that, every failure (the store, the first view, the resolver
// registry, the coordinator, anti-entropy, the transfer manager) closes,
// latest first and exactly once, what New built that holds resources:
// the coordinator, the resolver registry New made, and the store, which
// closes the engine (the engine itself when the store could not be
// built). Anti-entropy and the transfer manager hold nothing until their
// loops run, and no loop has started. The error returned is the step's,
// joined with any error of those closes. Members, Transport, the Closers
// and a Config.Resolvers of the caller's are never closed by New.
// Metrics registered in Config.Registry before the failure stay there:
// retry with a fresh registry. TestNew_errorsBeforeParts and
// TestNew_closesEngineOnceOnFailure check this rule.
package node
