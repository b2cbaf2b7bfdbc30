// Package resolve owns dynamod's conflict resolvers: the functions that merge
// the siblings of a key into one value when a bucket's "resolver" property
// asks for it (docs/design.md, "Resolvers"). The read path calls a
// [Resolver] on the siblings of a merged read and writes the result back as
// an ordinary write whose context is the read's joined history, so it gets
// a dot of its own and a write racing the resolution becomes its sibling.
// Pure resolvers must still be deterministic merges (see [Resolver]):
// coordinators that resolve the same siblings independently then write the
// same value.
//
// A [Registry] maps the property's values (specs) to resolvers:
//
//	siblings            no resolver: the client gets every sibling (default)
//	lww                 [LastWriteWins]
//	json-set-union      [SetUnion]
//	json-counter        [MergeCounters]
//	json-merge-objects  [MergeObjects]
//	webhook:URL         a POST to URL (see [WebhookConfig])
//	any other name      a resolver a program registered with [Registry.Register]
//
// Each built-in is also a plain function on byte slices, for clients and
// programs that merge values themselves.
//
// # Rules
//
// lww keeps the sibling with the newest LastModified (the coordinator's wall
// clock) and drops every other one: it loses concurrent writes by design,
// and a node with a fast clock wins. Ties go to the greater data, then
// content type, then a live value over a tombstone, then metadata.
// Tombstones take part like any other value, so a newer delete wins. It
// sees only values, never dots, and is dynamod's only last-write-wins rule.
//
// The JSON merges read each sibling as JSON and compare JSON values by a
// canonical encoding: no insignificant white space, object keys sorted
// byte-wise (a key repeated within one object keeps its last value),
// strings minimally escaped (invalid UTF-8 becomes U+FFFD), integer
// literals digit for digit, other numbers read as float64 and written as an
// integer when they are one below 1e21 (1.0 is 1, 1.5e3 is 1500) or else in
// the shortest form that round-trips (0.5, 1e-07), -0 as 0. Their results
// are canonical JSON with content type application/json. Every JSON merge is a
// join-semilattice: commutative, associative and idempotent, so neither the
// order of the siblings nor duplicates change the result, and merging a
// result with any of its inputs gives the result again.
//
//   - json-set-union: JSON arrays as sets; the result holds each distinct
//     element once, sorted by canonical encoding. It is a grow-only set
//     across concurrent writes: an element one client removed comes back if
//     a concurrent write still had it. A removal sticks when it is written
//     with the context of a read that saw every sibling.
//   - json-counter: G-counters, JSON objects of actor → non-negative integer,
//     merged by per-actor maximum; [CounterSum] gives the total and
//     [MergeCounters] says how a client increments.
//   - json-merge-objects: top-level keys merged, nested objects merged
//     recursively, conflicting values kept under the key as
//     {"_siblings": [...]}; the exact rule is at [MergeObjects].
//
// For the JSON merges, a sibling that is not valid (not JSON, or JSON of the
// wrong type) is never dropped: it comes back unchanged in Result.Invalid,
// with a Result.Warning, and the caller keeps it as a sibling next to the
// merged value; the valid siblings are merged. If no sibling is valid the
// resolver fails with [ErrNoValue] and the caller returns the siblings. A
// tombstone sibling counts as the empty value (empty set, zero counter,
// empty object), so a write concurrent with a delete wins over it
// (add-wins); when every valid sibling is a tombstone the result is a
// tombstone. The result's LastModified is the greatest of the valid
// siblings', its metadata their union (on a clash the greater string wins),
// its expiry the latest of theirs (none if one has none). The coordinator
// drops expired siblings before it resolves.
//
// The webhook resolver is the only one with I/O: each call is bounded by a
// deadline and by a limit on calls in flight, and any failure is an
// [ErrWebhook] error after which the caller returns the siblings (with a
// warning), so a broken webhook never loses data. Its metrics are
// dynamod_resolve_webhook_calls_total{result},
// dynamod_resolve_webhook_duration_seconds and
// dynamod_resolve_webhook_in_flight. Nothing in this package logs, and no
// error or warning contains a value.
//
// The package imports versioning and no other dynamod package.
package resolve
