// Package storage keeps one node's data: objects (the versioned state of
// each key), hinted-handoff hints and node metadata.
//
// It has three layers:
//
//   - [Engine], an ordered byte key-value store with atomic batches and
//     snapshot scans. [LevelDB] runs on goleveldb: after a write error it
//     refuses writes and reopens itself with backoff until writes work
//     again ([Store.Health] reports it); [Memory] is an in-memory
//     engine for tests, with a crash mode ([Memory.CrashClone]) that keeps
//     only synced writes. Package storagetest holds the conformance suite
//     both pass; package faulty injects errors.
//   - [Store], the API the quorum, handoff and anti-entropy code uses: get,
//     put and delete objects by [Key], per-key locks, partition scans,
//     hints, the bucket registry and metadata.
//   - The object codec, [AppendObject] and [DecodeObject], which is also the
//     wire format between nodes.
//
// storage imports versioning for its types and nothing else of dynamod; it
// must never import quorum, ring, transport or anything above them. Errors
// wrap the sentinels [ErrNotFound], [ErrCorrupt], [ErrClosed], [ErrLocked]
// and [ErrWriteFailed] with %w and name the operation and key. Corruption
// is always reported as an [ErrCorrupt] error, never skipped or returned as
// data.
//
// # Key layout
//
// Every engine key starts with a one-byte prefix. Integers are big-endian,
// so byte order is numeric order; uvarint is encoding/binary's unsigned
// varint, always minimal. Buckets, keys and targets are arbitrary bytes.
//
//	object    'o' | hash (8) | uvarint(len(bucket)) | bucket | key   → encoded object
//	hint      'h' | uvarint(len(target)) | target | hash (8) | uvarint(len(bucket)) | bucket | key → empty
//	registry  'b' | bucket                                           → empty
//	metadata  'm' | name                                             → value
//
// Objects sort by hash first, so a partition (a contiguous hash range) is
// one range scan; the bucket length prefix keeps (bucket, key) pairs
// distinct whatever bytes they hold. Hints sort by target, so handing off
// to one node is one prefix scan. A stored key that does not parse is
// reported as corrupt.
//
// # Object encoding, format version 1
//
//	object  = 0xd1 | uvarint(#entries) | entry* | uvarint(#anon) | value* | crc32c (4)
//	entry   = actor (8) | uvarint(counter) | uvarint(#values) | value*     (values newest first)
//	value   = flags (1: bit 0 deleted) | uvarint(len) | data | uvarint(len) | content type |
//	          last-modified (8, int64 Unix ns) | uvarint(#meta) | (uvarint(len) | name | uvarint(len) | value)*
//
// Metadata is sorted by name, so the encoding of a clock is canonical, and
// the decoder accepts only canonical input: decoding and re-encoding gives
// the same bytes. The CRC-32C (Castagnoli) covers every preceding byte. The
// first byte names the format; a new format gets a new byte and decoders
// keep reading the old ones.
package storage
