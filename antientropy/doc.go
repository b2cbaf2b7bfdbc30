// Package antientropy makes replicas converge by themselves, even when
// hinted handoff and read repair never run, and reaps tombstones safely
// (docs/design.md, "Anti-entropy"). It owns:
//
//   - one Tictac-style Merkle tree per partition, kept in memory;
//   - exchanges with co-replicas that find and repair differing keys;
//   - the tombstone reaper;
//   - the operator finders (keys with many siblings, large objects,
//     tombstone counts).
//
// # Trees
//
// A partition's hash range is cut into Config.Segments equal segments
// (default 1024). Leaf s is the XOR over the keys whose hash falls in
// segment s of hash(bucket, key, versioning.Digest(clock)); about
// sqrt(Segments) branches each XOR their leaves, and the root XORs the
// branches. XOR makes the tree linear, so it is kept incrementally:
// [AntiEntropy.OnChange], called by the store for every local change under
// the key's lock, XORs hash(old) ^ hash(new) into one leaf, its branch and
// the root, under the partition's mutex, with no I/O. A tree costs 8 bytes
// per leaf and branch: 8.25 KiB per partition by default (allocated on the
// first key), 8.25 MiB for 1024 partitions.
//
// Trees are built by one scan at start-up ([AntiEntropy.Build]; until a
// partition's tree is built it takes no part in exchanges) and rebuilt from
// scratch about every RebuildInterval, staggered. A build races with
// writes: a write persisted before the scan's snapshot may report to
// OnChange only after. So a build first registers itself with the
// partition, and OnChange records the last state of every key changed from
// then on; the scan remembers what it saw of each key; after the scan the
// recorded keys' scanned contributions are replaced by their recorded
// states, and the leaves are installed in one step under the mutex. If the
// Local is a [Fencer], a fence after the scan makes this exact. Without
// one, a write whose OnChange call is delayed past the whole scan leaves a
// leaf wrong; exchanges catch that, because both ends compare each
// differing segment's scan with its leaf, and a leaf that disagrees with
// its store (while no write moved it) is rescanned. Rebuilds also catch
// disk rot.
//
// # Exchanges
//
// Each round ([AntiEntropy.Run]) picks the next live member round-robin and
// runs [AntiEntropy.ExchangePeer]: the roots of every partition both nodes
// replicate (both among its first NVal walk members) travel in one message;
// each partition whose roots differ is exchanged ([AntiEntropy.Exchange]):
//
//  1. Branches: our root goes to the peer, which answers "equal" or its
//     branches.
//  2. Leaves: only under the differing branches.
//  3. Ranges: for each differing leaf, the peer scans the segment's hash
//     range and answers a list of (key hash, item hash) when it holds at
//     most 16 distinct hashes, else the hashes of its 16 sub-ranges; we scan
//     the same range, compare, and descend into differing sub-ranges, level
//     by level in batched messages.
//  4. Sync: for each differing key hash we send our objects; the peer
//     merges them (Local.MergeLocal, i.e. versioning.Sync under the key's
//     lock) and answers with its objects there that differ from what we
//     sent, which we merge.
//
// A differing key therefore costs O(log M) hashes to find (a branch, a
// leaf, one 16-way split per factor 16 of keys per segment) plus at most
// one object each way; an equal partition costs about 10 bytes of the
// roots message. Requests are paced by a token bucket (MaxBytesPerSecond),
// bounded by CallTimeout, and no lock is held across a call: a peer that
// dies mid-exchange makes the exchange fail after at most CallTimeout, with
// the keys merged so far merged and nothing else touched. The peer side is
// [AntiEntropy.Serve] (kinds KindBase and up); it validates a whole message
// before changing anything and never panics on bad bytes. The wire format
// is documented in wire.go and pinned by a golden test.
//
// Anti-entropy assumes every key of a partition has NVal replicas: keys of
// a bucket with a larger n_val are only exchanged among the first NVal
// primaries, and keys of a bucket with a smaller one gain copies on the
// other first-NVal primaries. (Riak keeps one tree per n_val for this; a
// per-bucket n_val is a possible extension.)
//
// # Reaping tombstones
//
// [AntiEntropy.ReapPartition], run by a partition's first primary, deletes
// a tombstone with digest d only when TombstoneGrace has passed since its
// newest value's LastModified, every ring member is alive and answers, all
// of the partition's primaries hold exactly d, and every other member holds
// d or nothing. It then deletes it (Local.ReapLocal(k, d), a no-op if a
// write raced the check) on the other holders, then here.
//
// Why this never brings a deleted value back: an older value can come back
// only from a node that still holds it, or from a message still in flight.
// At the check no node holds anything but d (primaries must hold d,
// fallbacks d or nothing, and a member that is down or does not answer
// blocks the reap, so a dead primary or a dead fallback with a stale copy
// or an undelivered hint blocks it too); the grace outlasts any message
// in flight. After the reap, a node that still holds d (its reap message
// was lost) only hands d back through an exchange or handoff: the
// tombstone comes back and is reaped again later, never the value. A
// write that races the reap is a new write (a sibling or a successor of
// d), and ReapLocal's digest check keeps it. Coordinators mint dots with
// fresh actor epochs when their local clock is gone (see quorum), so a
// write after a reap is never shadowed by the reaped tombstone's dots.
//
// # Dependencies
//
// The package reaches its store through [Local], peers through
// [Transport] and liveness through [Members], all declared here. It imports
// ring, storage (types, codec and sentinels, never an engine), versioning
// and the internal helpers (wire, ratelimit, jitter), and never gossip,
// http, node, quorum, transfer or a transport implementation (deps_test.go
// checks).
package antientropy
