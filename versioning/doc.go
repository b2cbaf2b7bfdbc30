// Package versioning owns dynamod's causality tracking: the dotted version
// vector set ([Clock]) kept for every key, the operations on it, and the
// compact codec of the causal [Context] that clients carry in the
// Dynamod-Context header and nodes carry in their protocol.
//
// A Clock (Almeida, Baquero, Gonçalves, Preguiça, Fonte: "Scalable and
// Accurate Causality Tracking for Eventually Consistent Stores", DAIS 2014)
// holds one [Entry] per actor that coordinated a write: the actor's counter N
// and its still-live values, newest first. Values[i] was written at dot
// (Actor, N-i); dots up to N-len(Values) are known and dead. Values without a
// dot (anonymous values, [Clock].Anon) come from a client ([New]); the
// coordinator dots them ([Update]). Conflict resolution is not here: the
// server resolves siblings by writing (package resolve).
//
// The write path is:
//
//	ctx, values := Join(stored), Values(stored)       // client reads
//	client := New(ctx, v)                             // client writes v
//	stored = Update(client, stored, coordinatorActor) // coordinator
//	replica = Sync(replica, stored)                   // every other replica
//
// Laws (each one a property test in this package):
//   - [Sync] is commutative and idempotent, and associative on clocks without
//     anonymous values; see [Sync] for what anonymous values change.
//   - A write whose context is the [Join] of the coordinator's clock leaves
//     exactly one value; two writes with the same stale context leave two
//     siblings; every pair of siblings is truly concurrent.
//   - A clock has at most one entry per actor that coordinated a write (or
//     that a client context names), never one per client.
//
// Ownership: functions never modify their arguments, and every slice of a
// returned Clock (Entries, each Entry's Values, Anon) is freshly allocated.
// A [Value]'s Data and Meta are shared between the argument and the result,
// never copied: they are immutable once a value is in a clock. Use [Clone]
// for a deep copy.
//
// The package is pure: no I/O, clock, randomness, goroutines or logging. It
// imports only the standard library and github.com/cespare/xxhash/v2, and no
// other dynamod package (deps_test.go enforces this). Functions are safe for
// concurrent use on clocks that nobody mutates, and never panic, not even on
// clocks that break the [Clock] invariants (the results are then unspecified;
// decoders call [Clock.Validate]).
package versioning
