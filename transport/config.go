package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Limits on Config values.
const (
	// MinFrame is the smallest allowed Config.MaxFrame.
	MinFrame = 1 << 10
	// maxFrameLimit is the largest allowed Config.MaxFrame (the wire
	// carries lengths as uint32; 1 GiB keeps int arithmetic safe anywhere).
	maxFrameLimit = 1 << 30
	// maxNameLen is the longest node name the handshake carries.
	maxNameLen = 255
)

// Config configures a [TCP] transport. Zero durations and counts take the
// defaults of [DefaultConfig]. A Config must not change after [Listen].
type Config struct {
	// Name is this node's name. It is sent in the handshake of every
	// connection this node dials, and handlers on the peer see it as from.
	// Required, 1 to 255 bytes.
	Name string
	// BindAddr is the host:port to listen on, for example "0.0.0.0:7947";
	// port 0 picks a free port (see [TCP.Addr]). Empty: do not listen (a
	// transport that only calls out).
	BindAddr string
	// Resolve maps a node name to a host:port to dial. It is called on
	// every dial, not every call, so it may follow address changes; it must
	// be safe for concurrent use. The node found there must give that name
	// in its handshake, or the dial fails (a stale address now used by
	// another node). nil: calls to other nodes fail with ErrUnreachable.
	Resolve func(name string) (addr string, ok bool)
	// TLS, when set, is used for both ends: the listener serves TLS with it
	// and dials use it as the client config, so one config with
	// Certificates, RootCAs, ClientCAs and ClientAuth gives mutual TLS. A
	// dial with an empty ServerName sets it to the host part of the
	// resolved address. The config must verify the peer's certificate on
	// both ends (ClientAuth RequireAndVerifyClientCert, or a
	// VerifyConnection as internal/pki's); the transport then takes the
	// peer's node name from that certificate (PeerName): an inbound
	// connection whose hello names another node, and a dialed node whose
	// certificate names another node than the one dialed, are refused.
	// nil: plaintext, and the peer's name is the one in its hello.
	TLS *tls.Config
	// PeerName returns the node name a verified peer certificate (the
	// leaf) stands for, or an error when it stands for no node (the
	// connection is then refused). Used only with TLS. nil: the leaf's
	// Subject CommonName, which must not be empty.
	PeerName func(leaf *x509.Certificate) (string, error)
	// DialTimeout bounds one dial: TCP connect, TLS handshake and the
	// transport handshake. It also bounds the handshake of an accepted
	// connection. Default 2s.
	DialTimeout time.Duration
	// CallTimeout bounds a call whose ctx has no deadline. Default 5s.
	CallTimeout time.Duration
	// WriteTimeout bounds how long a peer may take no bytes: each write
	// of up to 1 MiB must complete within it, or the connection is closed
	// and its calls fail with ErrUnreachable. Default 10s.
	WriteTimeout time.Duration
	// DialBackoff: after a failed dial, calls to that peer connection fail
	// at once with ErrUnreachable for this long instead of dialing again, so
	// a dead peer costs nothing per call. Default 100ms; negative: dial on
	// every call.
	DialBackoff time.Duration
	// MaxFrame is the largest frame, header included, this node sends or
	// accepts. Peers exchange it in the handshake and each connection uses
	// the smaller of the two. A larger body fails with ErrTooLarge. Default
	// 64 MiB; at least MinFrame (1 KiB), at most 1 GiB.
	MaxFrame int
	// ConnsPerPeer is the number of connections kept to each peer; calls
	// use them round-robin. Default 1: one connection coalesces the most
	// frames per write system call; in the 3-node cluster bench going from
	// 2 to 1 raised throughput from 11.1k to 12.6k ops/s.
	ConnsPerPeer int
	// MaxConcurrent bounds the requests one inbound connection runs at once;
	// when they are all busy the connection stops reading, which pushes
	// back on the caller through TCP. Default 1024.
	MaxConcurrent int
	// ReadTimeout bounds how long the bytes of a frame may stop arriving,
	// on inbound and dialed connections alike, after the handshake: a frame
	// (header or body) that has started and gets no new byte for this long
	// closes the connection (its calls fail with ErrUnreachable). A
	// connection between frames is idle: this bound does not apply (see
	// IdleTimeout). On inbound connections it also bounds a request frame's wait for
	// room in MaxInflight (unless the request's deadline comes first: the
	// request is then skipped and the connection kept) and the time the
	// frame that leads MaxInflight may take to arrive in full; either
	// closes the connection. Default 30s.
	ReadTimeout time.Duration
	// IdleTimeout closes an inbound connection on which no request has
	// been in flight (none read, none running) for this long, so that
	// connections nobody uses do not hold MaxInbound's slots forever. The
	// acceptor first tells the dialer (a goaway, see frame.go), which
	// sends a request that crossed it again on a new connection: a call
	// does not fail because its connection was closed for idleness. A
	// connection that sends no hello is closed after DialTimeout.
	// Default 5m.
	IdleTimeout time.Duration
	// MaxInbound bounds the accepted connections open at once, handshakes
	// included. Past it a new connection is closed at once (and counted in
	// dynamod_transport_inbound_rejected_total). A cluster of n nodes needs
	// (n-1) * ConnsPerPeer. Default 256.
	MaxInbound int
	// MaxConnInflight bounds the request bytes (bodies being read plus
	// bodies whose handler is running, each request counted 8 KiB more for
	// its goroutine) that one inbound connection holds. A request is
	// charged its announced length here before its body is read: what does
	// not fit waits until earlier requests of the connection end, which
	// holds back only this connection's later frames and pushes back on
	// the caller through TCP like MaxConcurrent. A body larger than the
	// bound is read when nothing else of that connection is in flight.
	// Default 64 MiB.
	MaxConnInflight int
	// MaxInflight bounds the request bytes held by all inbound connections
	// together. It is charged as bodies arrive, never for a length only
	// announced: a frame holds nothing before its first body byte, then
	// its buffer (at most twice what arrived, 64 KiB at first), plus 8 KiB
	// per request, which also bounds the requests running at once (32768
	// by default). A quarter is kept for small requests (bodies up to
	// 64 KiB), which keep flowing whatever large frames hold; large frames
	// that hold bytes while waiting for more cannot deadlock (one of them
	// at a time, the leader, is guaranteed its whole body; see shared.go).
	// A frame waits for room at most ReadTimeout or its request's
	// deadline. A body larger than the bound is charged the bound less the
	// small requests' quarter. Default 256 MiB.
	MaxInflight int
	// Logger receives warnings (bad frames, failed peers) and debug events.
	// nil: discard.
	Logger *slog.Logger
	// Registry registers the dynamod_transport_* metrics. nil: metrics are
	// kept but not registered.
	Registry prometheus.Registerer
}

// DefaultConfig returns the defaults. Name and Resolve still need setting,
// and BindAddr to accept connections.
func DefaultConfig() Config {
	return Config{
		DialTimeout:     2 * time.Second,
		CallTimeout:     5 * time.Second,
		WriteTimeout:    10 * time.Second,
		DialBackoff:     100 * time.Millisecond,
		MaxFrame:        64 << 20,
		ConnsPerPeer:    1,
		MaxConcurrent:   1024,
		ReadTimeout:     30 * time.Second,
		IdleTimeout:     5 * time.Minute,
		MaxInbound:      256,
		MaxConnInflight: 64 << 20,
		MaxInflight:     256 << 20,
	}
}

// DefaultLocalConfig returns a profile for tests on one machine: listen on
// 127.0.0.1 on a free port, with short timeouts and backoff.
func DefaultLocalConfig() Config {
	c := DefaultConfig()
	c.BindAddr = "127.0.0.1:0"
	c.DialTimeout = time.Second
	c.CallTimeout = 2 * time.Second
	c.WriteTimeout = 2 * time.Second
	c.DialBackoff = 10 * time.Millisecond
	return c
}

// Validate reports every invalid field. Zero values are valid: they take the
// defaults.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" || len(c.Name) > maxNameLen {
		errs = append(errs, fmt.Errorf("transport: Name must be 1 to %d bytes, got %d", maxNameLen, len(c.Name)))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"DialTimeout", c.DialTimeout},
		{"CallTimeout", c.CallTimeout},
		{"WriteTimeout", c.WriteTimeout},
		{"ReadTimeout", c.ReadTimeout},
		{"IdleTimeout", c.IdleTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("transport: %s must be >= 0, got %v", d.name, d.v))
		}
	}
	if c.MaxFrame != 0 && (c.MaxFrame < MinFrame || c.MaxFrame > maxFrameLimit) {
		errs = append(errs, fmt.Errorf("transport: MaxFrame must be in [%d, %d], got %d", MinFrame, maxFrameLimit, c.MaxFrame))
	}
	if c.ConnsPerPeer < 0 || c.ConnsPerPeer > 64 {
		errs = append(errs, fmt.Errorf("transport: ConnsPerPeer must be in [0, 64], got %d", c.ConnsPerPeer))
	}
	for _, n := range []struct {
		name string
		v    int
	}{
		{"MaxConcurrent", c.MaxConcurrent},
		{"MaxInbound", c.MaxInbound},
		{"MaxConnInflight", c.MaxConnInflight},
		{"MaxInflight", c.MaxInflight},
	} {
		if n.v < 0 {
			errs = append(errs, fmt.Errorf("transport: %s must be >= 0, got %d", n.name, n.v))
		}
	}
	return errors.Join(errs...)
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.DialTimeout == 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = d.CallTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.DialBackoff == 0 {
		c.DialBackoff = d.DialBackoff
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = d.MaxFrame
	}
	if c.ConnsPerPeer == 0 {
		c.ConnsPerPeer = d.ConnsPerPeer
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = d.MaxConcurrent
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = d.ReadTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.MaxInbound == 0 {
		c.MaxInbound = d.MaxInbound
	}
	if c.MaxConnInflight == 0 {
		c.MaxConnInflight = d.MaxConnInflight
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = d.MaxInflight
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
