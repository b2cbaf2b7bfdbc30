// Package client is a Go client for dynamod's HTTP API (docs/design.md,
// "Client HTTP API").
//
// It hides the two things that make an eventually consistent store awkward
// to use by hand: the causal context and siblings. A read returns an
// [Object] carrying the opaque context and every sibling; a write takes the
// context back. [Client.Update] wraps the usual read-modify-write loop: it
// reads, merges siblings with a caller's resolver, applies a mutation and
// writes with the context, retrying transient failures with backoff.
//
// A [Client] talks to any number of equal nodes. Each request starts at the
// next node in round-robin order and fails over to the following ones on
// connection errors and 503s. Errors carry the HTTP status in an [*Error]
// and match the sentinels ([ErrNotFound], [ErrUnavailable], [ErrBadRequest],
// [ErrTooLarge]) with errors.Is.
//
// [ClusterStatus] and [Preflist] are the operator documents (GET /cluster
// and /cluster/preflist); the server fills these very types.
//
// The package imports only the standard library and no other dynamod
// package: it is the wire protocol's client, not a view of the server's
// internals. Package clienttest holds an in-memory fake server for tests.
package client
