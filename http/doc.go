// Package http is dynamod's client API: a Riak-style HTTP adapter over a
// [Backend] (in production node.Node over quorum.Coordinator). It parses and
// validates requests, calls the backend once, and encodes the answer. It holds
// no state of its own beyond metrics.
//
// [NewHandler] serves:
//
//	GET|HEAD /kv/{bucket}/{key}          200 one value | 300 siblings | 404
//	PUT      /kv/{bucket}/{key}          204 | 200/300 with ?returnbody=true
//	DELETE   /kv/{bucket}/{key}          204
//	POST     /kv/{bucket}                201 + Location (server-generated key)
//	GET      /kv/{bucket}?keys=true|stream   key listing (JSON; stream is chunked)
//	GET      /buckets                    {"buckets":[...]}
//	GET|PUT|DELETE /buckets/{bucket}/props   bucket properties (DELETE resets)
//	GET      /cluster, /cluster/preflist/{bucket}/{key}
//	GET      /admin/find/{what}; POST /admin/leave, /admin/remove/{name}
//	POST|GET /admin/tokens; POST|DELETE /admin/tokens/{id}/grants; DELETE /admin/tokens/{id}
//	GET      /ping, /ready
//
// [NewAdminHandler] serves the admin listener: /metrics, /debug/pprof/ (only
// with Config.EnablePprof), /ping and /admin/tokens, without a token.
//
// Bearer tokens (auth.go, package auth) guard every client route but /ping
// and /ready, by [Config.ClientAuth]: objects and listings need read:B or
// write:B, bucket properties read:B to read and admin:B to change, and
// everything else, including any route not in the table, cluster admin.
// Missing, malformed, unknown and revoked tokens get 401 with
// WWW-Authenticate: Bearer; a token without the grant gets 403. Both are
// answered before a body is read or anything changes.
//
// Buckets and keys are arbitrary non-empty byte strings. A client
// percent-encodes them as one path segment each (a "/" inside a key is
// "%2F"); the router matches the encoded path and never cleans or redirects
// it, so "a//b", "../x" and "%2F" are ordinary keys. Key listings are JSON,
// so a key that is not valid UTF-8 is listed with U+FFFD in place of the bad
// bytes.
//
// The causal context travels in the Dynamod-Context header (base64url). Query
// parameters r, pr, w, pw, dw, timeout, returnbody and notfound_ok are
// checked against the bucket's n_val before the backend is called; unknown
// parameters are ignored. Every error is a JSON body {"error", "detail"}
// whose status is chosen in one place, errors.go; internal errors are logged
// in full and reach the client only as "internal error" and a request id
// (also sent on every response as Dynamod-Request-Id). The requests that
// net/http refuses before any handler runs (431, 400, 501, 505, 417) get
// the same JSON body when the server's listener is wrapped in
// [JSONErrors] (errconn.go), as dynamod serve does.
//
// Package http imports quorum and versioning for their types and sentinels
// only, and auth for its token checks; no other dynamod package
// (deps_test.go checks): never storage, gossip, transport or node. Everything it does goes through [Backend].
package http
