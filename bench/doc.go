// Package bench is dynamod's HTTP load generator (`dynamod bench`).
//
// [Run] drives a cluster through its client API the way an application
// would: Concurrency workers, spread round-robin over the target nodes,
// each with one request in flight, pick keys uniformly at random from a
// seeded source and GET or PUT them in the configured ratio. A worker
// remembers the causal context of its last read of a key and sends it with
// its next write of that key, so writes supersede what they read and
// siblings do not pile up.
//
// The workload is ../shared/bench's loadgen's, so that both report the same
// figures for the same flags (workload.go): keys are named key0 ..
// key{Keys-1}; values come from a pool of distinct random bytes (nothing to
// compress); worker i draws, per request, the key, the operation and a PUT's
// value from PCG(Seed, i+1), in that order; a GET sends no Accept header; a
// PUT sends the context last seen for its key; the preload writes each key
// once with a plain PUT; warm-up and measurement are one stretch of load, a
// request belonging to the phase in which it starts; a quantile is the
// nearest-rank one. `dynamod bench --warmup 3s --duration 20s --r 2 --w 2`
// is loadgen's `--prefill --r 2 --w 2` (its defaults: 64 workers, 10 000
// keys, 1 KiB, half reads).
//
// Latencies go into per-worker log-linear histograms ([Histogram], ≤1%
// error) merged at the end; no lock is shared between workers. Failed
// requests are counted by class (4xx, 5xx, timeout, conn), never fatal.
//
// Each worker speaks HTTP/1.1 over its own keep-alive connection with a
// minimal client (rawhttp.go: a request head built in a reused buffer, the
// status, Content-Length, Transfer-Encoding, Connection and Dynamod-Context
// read back): the generator shares the cores with the nodes it measures,
// and net/http's client costs about twice as much per request, which
// showed as lower figures than ../shared/bench's loadgen for the same
// workload. It shares only header names with package client and imports
// no server-side package.
package bench
