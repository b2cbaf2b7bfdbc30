// Package gossip owns cluster membership for a dynamod node: liveness from
// hashicorp/memberlist, and a small cluster-state CRDT that memberlist
// carries (docs/design.md, "Membership").
//
// # Cluster state
//
// The state maps each member name to its gossip, RPC and HTTP addresses,
// its [Status] (Joining, Joined, Leaving, Left, Removed) and what it holds
// (the member set it settled at and its extra partitions; see package
// ownership), and each bucket to its properties
// (opaque JSON, or a reset). Every entry carries a Lamport version and the
// name of the node that wrote it; merging two states keeps, per entry, the
// greater of (version, origin, content). That order is total, so merge is
// commutative, associative and idempotent and every node converges on the
// same state whatever order updates arrive in. Local writes are broadcast
// at once (memberlist's TransmitLimitedQueue; entries too large for a packet
// go to each member over TCP), nodes pass on news they receive, and the full
// state is exchanged on every memberlist push-pull and join. Nothing is ever
// deleted: a Removed member and a reset bucket stay as tombstones so they
// win over older copies still circulating.
//
// The encoding is JSON, {"v":1,"from":NODE,"members":{...},"buckets":{...}},
// the same on the wire and in the state file (Config.StatePath, replaced
// atomically after each change). Bytes from a peer that fail to decode or
// validate are logged, counted and ignored as a whole.
//
// # Validation and encryption
//
// Entries a peer sends are admitted one by one before the merge
// (validate.go): a member's own entry always, another member's only as its
// removal by a known origin, buckets and tokens from a known origin, and
// no version more than 2^32 ahead of the local clock. Refused entries are
// dropped and counted; the rest of the message applies. Each rule accepts
// more as the node learns more, so the merge still converges.
//
// With a key (Config.SecretKey, Config.Keys, or the keyring persisted at
// Config.KeyringPath, which wins), memberlist encrypts everything and
// drops what is not encrypted with an installed key; the log bridge counts
// those drops (memberlist reports them only in its log). [Gossip.InstallKey],
// [Gossip.UseKey] and [Gossip.RemoveKey] rotate the key on a running node,
// persisting the keyring first (keyring.go); node fans them out to every
// member.
//
// # Membership and liveness
//
// A failure is temporary: a member stays in [Gossip.RingMembers] whatever
// its liveness, until an operator calls [Gossip.Remove]. A node writes its
// own entry and refutes any other version of it (a restart at a new address
// wins over the old entry); only Remove writes about another node.
// Liveness comes from memberlist's events: Alive or Dead. memberlist does
// not expose suspicion (memberlist#266), so Suspect is never reported.
//
// memberlist stops probing dead members after GossipToTheDeadTime, so the
// two sides of a long partition never merge by themselves (memberlist#222).
// A rejoin loop therefore joins, every jittered Config.RejoinInterval, the
// known members that are not alive. DeadNodeReclaimTime is set so a member
// that comes back at a new address is accepted.
//
// # Boundaries
//
// gossip imports, of dynamod, only the pure package ownership (to
// validate the extra partitions it carries), internal/jitter and
// internal/lifetime (deps_test.go checks). node consumes it through its Membership interface
// (node/gossip.go adapts it), and cmd/dynamod hands Resolve to the
// transport. Real memberlist runs only here; other packages' tests use
// static or in-process membership.
package gossip
