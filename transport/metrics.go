package transport

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// outcome classifies how a call ended, for metrics.
type outcome uint8

const (
	outcomeOK outcome = 1 + iota
	outcomeRemoteError
	outcomeTimeout
	outcomeCanceled
	outcomeUnreachable
	outcomeTooLarge
	outcomeClosed
	outcomeOther
	numOutcomes = iota + 1 // array size, index 0 unused
)

func (o outcome) String() string {
	switch o {
	case outcomeOK:
		return "ok"
	case outcomeRemoteError:
		return "remote_error"
	case outcomeTimeout:
		return "timeout"
	case outcomeCanceled:
		return "canceled"
	case outcomeUnreachable:
		return "unreachable"
	case outcomeTooLarge:
		return "too_large"
	case outcomeClosed:
		return "closed"
	case outcomeOther:
		return "error"
	}
	return "unset"
}

func classify(err error) outcome {
	if err == nil {
		return outcomeOK
	}
	var re *RemoteError
	switch {
	case errors.As(err, &re):
		return outcomeRemoteError
	case errors.Is(err, context.DeadlineExceeded):
		return outcomeTimeout
	case errors.Is(err, context.Canceled):
		return outcomeCanceled
	case errors.Is(err, ErrUnreachable):
		return outcomeUnreachable
	case errors.Is(err, ErrTooLarge):
		return outcomeTooLarge
	case errors.Is(err, ErrClosed):
		return outcomeClosed
	}
	return outcomeOther
}

// served classifies how the server side of a request ended.
type served uint8

const (
	servedOK served = 1 + iota
	servedError
	servedTooLarge
	servedExpired // the caller's deadline passed (or the connection closed): no response sent
	numServed     = iota + 1
)

func (s served) String() string {
	switch s {
	case servedOK:
		return "ok"
	case servedError:
		return "error"
	case servedTooLarge:
		return "too_large"
	case servedExpired:
		return "expired"
	}
	return "unset"
}

// metrics are one transport's Prometheus metrics. The per-kind children are
// resolved once per kind and cached, so a call costs a few atomic adds and no
// label lookups.
type metrics struct {
	calls     *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	served    *prometheus.CounterVec
	sent      prometheus.Counter
	writes    prometheus.Counter
	received  prometheus.Counter
	dials     *prometheus.CounterVec
	conns     *prometheus.GaugeVec
	badFrames prometheus.Counter

	inflight        prometheus.Gauge
	inboundRejected prometheus.Counter
	readTimeouts    prometheus.Counter
	roomTimeouts    prometheus.Counter
	idleClosed      prometheus.Counter
	goAwayRetries   prometheus.Counter
	handlerPanics   prometheus.Counter
	tlsFailures     *prometheus.CounterVec

	dialOK, dialFailed prometheus.Counter
	connsIn, connsOut  prometheus.Gauge

	kinds [256]atomic.Pointer[kindMetrics]
}

type kindMetrics struct {
	calls   [numOutcomes]prometheus.Counter
	latency prometheus.Observer
	served  [numServed]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		calls: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_transport_calls_total",
			Help: "Calls made to other nodes, by request kind and result.",
		}, []string{"kind", "result"}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dynamod_transport_call_duration_seconds",
			Help:    "Time from a call's start to its result, by request kind.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2.5, 14), // 50µs .. ~7.5s
		}, []string{"kind"}),
		served: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_transport_served_total",
			Help: "Requests served for other nodes, by request kind and result.",
		}, []string{"kind", "result"}),
		sent: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_transport_sent_bytes_total",
			Help: "Bytes written to peer connections, frame headers included.",
		}),
		writes: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_transport_socket_writes_total",
			Help: "Socket writes; sent frames per write shows how well sends are batched.",
		}),
		received: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_transport_received_bytes_total",
			Help: "Bytes read from peer connections, frame headers included.",
		}),
		dials: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_transport_dials_total",
			Help: "Connections dialed to peers, by result (ok, error).",
		}, []string{"result"}),
		conns: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dynamod_transport_connections",
			Help: "Open peer connections, by direction (in, out).",
		}, []string{"direction"}),
		badFrames: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_transport_protocol_errors_total",
			Help: "Connections closed because the peer broke the protocol.",
		}),
		inflight: f.NewGauge(prometheus.GaugeOpts{
			Name: "dynamod_transport_inflight_bytes",
			Help: "Request bytes held by inbound connections: bodies being read or served, plus 8 KiB per request (bounded by MaxInflight).",
		}),
		inboundRejected: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_transport_inbound_rejected_total",
			Help: "Accepted connections closed at once because MaxInbound were open.",
		}),
		readTimeouts: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_transport_read_timeouts_total",
			Help: "Connections closed because a frame's bytes stopped arriving for ReadTimeout.",
		}),
		roomTimeouts: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_transport_inflight_timeouts_total",
			Help: "Connections closed because a request frame waited ReadTimeout, before its deadline, for room in the in-flight budget (MaxInflight).",
		}),
		idleClosed: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_transport_idle_closed_total",
			Help: "Inbound connections closed after IdleTimeout without a request in flight.",
		}),
		goAwayRetries: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_transport_goaway_retries_total",
			Help: "Calls sent again on a new connection because the peer closed theirs for idleness before reading them.",
		}),
		handlerPanics: f.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_transport_handler_panics_total",
			Help: "Requests whose handler panicked; the panic was recovered and answered as an error.",
		}),
		tlsFailures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "dynamod_transport_tls_handshake_failures_total",
			Help: "Peer connections refused in the TLS handshake (reason handshake: no, unknown or non-node certificate, or TLS error) or for the identity the certificate gives (reason identity: another node than the hello or the dial named), by direction (in, out).",
		}, []string{"direction", "reason"}),
	}
	m.dialOK = m.dials.WithLabelValues("ok")
	m.dialFailed = m.dials.WithLabelValues("error")
	m.connsIn = m.conns.WithLabelValues("in")
	m.connsOut = m.conns.WithLabelValues("out")
	for _, dir := range []string{"in", "out"} {
		for _, reason := range []string{tlsHandshake, tlsIdentity} {
			m.tlsFailures.WithLabelValues(dir, reason) // export zeros
		}
	}
	return m
}

// Reasons of dynamod_transport_tls_handshake_failures_total.
const (
	tlsHandshake = "handshake" // the TLS handshake failed
	tlsIdentity  = "identity"  // the certificate names no node, or another node
)

// tlsFailed counts a connection refused for TLS; dir is "in" or "out".
func (m *metrics) tlsFailed(dir, reason string) {
	m.tlsFailures.WithLabelValues(dir, reason).Inc()
}

func (m *metrics) kind(k uint8) *kindMetrics {
	if km := m.kinds[k].Load(); km != nil {
		return km
	}
	label := strconv.Itoa(int(k))
	km := &kindMetrics{latency: m.latency.WithLabelValues(label)}
	for o := outcomeOK; o < numOutcomes; o++ {
		km.calls[o] = m.calls.WithLabelValues(label, o.String())
	}
	for s := servedOK; s < numServed; s++ {
		km.served[s] = m.served.WithLabelValues(label, s.String())
	}
	if !m.kinds[k].CompareAndSwap(nil, km) {
		return m.kinds[k].Load()
	}
	return km
}

func (m *metrics) observeCall(k uint8, start time.Time, err error) {
	km := m.kind(k)
	km.calls[classify(err)].Inc()
	km.latency.Observe(time.Since(start).Seconds())
}

func (m *metrics) observeServed(k uint8, s served) {
	m.kind(k).served[s].Inc()
}
