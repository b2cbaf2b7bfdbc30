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
//     hints, the bucket registry and metadata. With a blob directory
//     (StoreOptions.BlobDir) it keeps large objects in files of their own
//     (see Blob files below).
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
//	object    'o' | hash (8) | uvarint(len(bucket)) | bucket | key   → encoded object or blob pointer
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
//	value   = flags (1: bit 0 deleted, bit 1 expires) | uvarint(len) | data | uvarint(len) | content type |
//	          last-modified (8, int64 Unix ns) | [expires (8, int64 Unix ns, not 0) if bit 1] |
//	          uvarint(#meta) | (uvarint(len) | name | uvarint(len) | value)*
//
// The expiry (bit 1) came after the first release of the format: values
// without one encode as before, so old objects decode unchanged, and an
// object with an expiry is refused by a decoder that predates it.
//
// Metadata is sorted by name, so the encoding of a clock is canonical, and
// the decoder accepts only canonical input: decoding and re-encoding gives
// the same bytes. The CRC-32C (Castagnoli) covers every preceding byte. The
// first byte names the format; a new format gets a new byte and decoders
// keep reading the old ones.
//
// # Blob files
//
// goleveldb keeps each value inside one table block, which it copies
// through its write batch, memtable, table writer and compactions and keeps
// in its buffer pool and block cache; a write to a 48 MiB object held it
// about six times over. A Store with a blob directory keeps every object
// whose encoding has StoreOptions.BlobBytes (256 KiB) or more in a file of
// its own, named hash-seq.blob (16 hex digits each) and holding exactly the
// object's encoding, and stores a pointer in the engine instead:
//
//	pointer = 0xb1 | seq (8) | uvarint(size) | crc (4: the object's trailing CRC-32C)
//
// Get, Scan and ScanRaw read the file, so their callers (the codec,
// anti-entropy's hashing, transfers, listings) see the same objects either
// way. A file whose length or trailing CRC is not the pointer's, or that is
// missing, is reported as an [ErrCorrupt] error naming the key.
//
// Crash safety: the file is written, synced and its directory synced
// before the pointer is written (whatever the write's sync: an unsynced
// pointer can reach the disk before unsynced file data). A write that
// replaces or deletes a pointer is synced, and only then is the old file
// removed, so no crash leaves a pointer without its file. A crash or a
// failed write can leave a file that no pointer names; opening the Store
// removes those (the sweep scans the objects of each hash that has files).
// A scan registers before it takes its snapshot, and a file a write
// replaces is removed only after every scan registered before the
// replacement has ended; a Get that finds the file gone reads the pointer
// again.
package storage
