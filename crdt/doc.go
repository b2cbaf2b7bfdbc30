// Package crdt holds dynamod's convergent data types: the values of a
// bucket whose datatype property is counter, set or map (docs/design.md,
// "Data types").
//
//   - A counter is a PN-counter: per actor, the sum of its increments and
//     the sum of its decrements; join is the per-actor maximum.
//   - A set is an add-wins observed-remove set of byte strings with a
//     causal context (ORSWOT, Bieniusa et al. 2012; Almeida et al.,
//     "Delta state replicated data types", 2018): every element holds the
//     dots of the adds that made it live, and the context the dots seen.
//     A remove drops exactly the element's dots the client's context saw,
//     so an add the remover did not see (a dot outside its context) wins.
//   - A map holds fields named by a string and a type (counter, set,
//     register, flag or map), each a dot store sharing the map's causal
//     context. Removing a field drops the dots it observed, so an update
//     concurrent with the remove keeps the field with that update (as in
//     Riak's riak_dt_map).
//
// A [State] is one value; [Join] merges two replicas' states; [Apply]
// applies an [Op] at a coordinator with its actor. The binary encoding
// ([State.Encode], [DecodeState]) is canonical and versioned by its first
// byte; the decoders are bounded and never panic. Contexts travel to
// clients as [EncodeContext] strings.
//
// Laws (each a property test in property_test.go against a sequential
// model): Join is commutative, associative and idempotent; every
// interleaving of concurrent operations at three replicas, delivered in any
// order, converges to the documented result (exact sums, add-wins, update
// wins over a concurrent remove).
//
// Metadata stays bounded. A context is a version vector plus a dot cloud
// of dots seen out of order; a dot that makes an actor's entry contiguous
// folds into the vector, so in a settled state the cloud is empty. A
// removed element or field keeps no tombstone: its dots live on only in the
// context, as part of the vector. A remove whose client context holds dots
// the coordinator has not seen yet is kept as a deferred remove until the
// state's context covers it, then applied and dropped.
//
// The package is pure: no I/O, clock, randomness, goroutines or logging
// (time comes in as an argument). It imports versioning for the ActorID
// type only.
package crdt
