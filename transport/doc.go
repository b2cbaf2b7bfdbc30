// Package transport carries node-to-node requests: a kind byte and a body go
// to a peer named by its node name, and one response (bytes or an error)
// comes back.
//
// It offers two implementations of [Caller]:
//
//   - [TCP]: binary length-prefixed frames over pooled, multiplexed TCP
//     connections (optionally mutual TLS), with a deadline on every call. See
//     frame.go for the wire format.
//   - [MemNetwork]: an in-process network with fault injection (drop, delay,
//     partition, crash, veto/rewrite hooks) for multi-node tests. One seed
//     decides every fault.
//
// Both deliver a request to a [Handler] on the receiving node, in its own
// goroutine, with a context that carries the caller's deadline.
//
// Metrics (TCP only), registered on Config.Registry:
//
//	dynamod_transport_calls_total{kind,result}         calls made; result ok, remote_error, timeout,
//	                                                    canceled, unreachable, too_large, closed, error
//	dynamod_transport_call_duration_seconds{kind}      call latency histogram
//	dynamod_transport_served_total{kind,result}        requests served; ok, error, too_large, expired
//	dynamod_transport_sent_bytes_total                 bytes written, headers included
//	dynamod_transport_received_bytes_total             bytes read
//	dynamod_transport_socket_writes_total              write syscalls (frames per write = batching)
//	dynamod_transport_dials_total{result}              dials; ok, error
//	dynamod_transport_connections{direction}           open connections; in, out
//	dynamod_transport_protocol_errors_total            connections cut for bad frames
//	dynamod_transport_read_timeouts_total              connections cut for a frame stalled ReadTimeout
//	                                                    (or leading MaxInflight and late, see Config.ReadTimeout)
//	dynamod_transport_inflight_timeouts_total          connections cut for a frame that waited ReadTimeout
//	                                                    for room in MaxInflight
//	dynamod_transport_inbound_rejected_total           accepted connections closed over MaxInbound
//	dynamod_transport_idle_closed_total                inbound connections closed after IdleTimeout (goaway)
//	dynamod_transport_goaway_retries_total             calls sent again because the peer closed the
//	                                                    connection for idleness before reading them
//	dynamod_transport_inflight_bytes                   request bytes held by inbound connections
//	dynamod_transport_tls_handshake_failures_total{direction,reason}
//	                                                    peer connections refused with TLS; direction in, out;
//	                                                    reason handshake (no, unknown or non-node certificate,
//	                                                    TLS error), identity (names no node or another node)
//
// # Identity
//
// Without TLS a peer is the node its hello names, on trust. With
// Config.TLS the peer's name comes from its verified certificate
// (Config.PeerName; dynamod serve uses internal/pki's node-name rule, which
// refuses client certificates and anything but a node certificate of the
// cluster CA):
//
//   - an accepted connection completes the TLS handshake (the config
//     requires and verifies a client certificate) before its hello is
//     read, and is refused, counted and logged at warn when the hello
//     names another node than the certificate; handlers see the
//     certificate's name as from;
//   - a dial checks, before it sends its hello, that the server's
//     certificate names the node it meant to reach (Config.Resolve gave
//     the address for that name). A forged or stale address in the
//     cluster state leads to a refused connection, not to an impostor.
//
// Host names and IP addresses in certificates are therefore not what is
// checked (internal/pki's config skips the standard host name check and
// verifies the chain itself): addresses move and come from gossip, while
// the node name is what a request is meant for.
//
// What a peer can make a node hold is bounded (Config): a frame's buffer
// grows as its bytes arrive (a peer that announces 64 MiB and stalls costs
// 64 KiB), a frame whose bytes stop for ReadTimeout closes its connection,
// inbound connections are capped at MaxInbound, and the request bodies
// being read or served (each counted 8 KiB more for its goroutine) are
// capped per connection (MaxConnInflight, charged the announced length,
// which holds back only that connection) and in all (MaxInflight, charged
// as the bytes arrive, with a quarter kept for small requests and one
// large frame at a time guaranteed its whole body, so that frames holding
// part of their body never deadlock: see shared.go). A request that does
// not fit is read once earlier ones end, pushing back on the caller
// through TCP; one that waits past its deadline is skipped, and one that
// waits ReadTimeout closes its connection.
//
// An inbound connection with no request in flight for IdleTimeout is
// closed, after a goaway that tells the dialer nothing more will be read;
// the dialer sends the calls still waiting on it again, once, on a new
// connection, so closing for idleness never fails a call (frame.go).
//
// transport is an I/O package at the bottom of the dependency graph: of
// dynamod it imports only internal/lifetime, the goroutine group every
// owner uses (deps_test.go checks), and it knows nothing of what the kinds
// and bodies mean. The consumers (quorum, antientropy, transfer) declare
// the interface they call, which [Caller] satisfies.
package transport
