package http

import (
	"bufio"
	"errors"
	"io"
	"net"
	nethttp "net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MaxHeaderBytes bounds a request's line and header. The largest header
// the API accepts is about 70 KiB: a key of 8 KiB percent-encoded (24 KiB),
// a context of maxContextEntries entries (23 KiB in base64) and 16 KiB of
// metadata. A larger header (past net/http's 4 KiB of slack) is answered
// 431 by net/http, in JSON through [JSONErrors].
const MaxHeaderBytes = 128 << 10

// NewServer returns the net/http server for h, the handler NewHandler
// built with the same cfg. It has no ReadTimeout and no WriteTimeout: a
// connection-wide read deadline that expires while a handler runs cancels
// the request's context (net/http's background read), and one write
// deadline for every route would cut key listings. The handler sets both
// per request instead (Config.BodyTimeout, Config.WriteTimeout). Wrap its
// listener in [LimitListener] to bound connections (beneath TLS) and in
// [JSONErrors] (above TLS, last) so that the requests net/http refuses
// itself get JSON errors too; requests over a JSONErrors connection on TLS
// get their TLS state back.
func NewServer(h nethttp.Handler, cfg Config) *nethttp.Server {
	cfg = cfg.withDefaults()
	return &nethttp.Server{
		Handler:           withTLSState(h),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ConnContext:       connContext,
	}
}

// Connections past the limit.
const (
	// maxRejecting bounds the connections being answered 503 at once;
	// past it a connection is closed without an answer.
	maxRejecting = 64
	// rejectTimeout bounds the time spent on one: reading its request
	// header, writing the 503, draining what it sent.
	rejectTimeout = 2 * time.Second
	// retryAfter is the Retry-After of a 503 for a resource limit, in
	// seconds.
	retryAfter = 1
)

// LimitListener returns ln with at most cfg.MaxConnections connections
// open at once. A connection past the limit is not handed to the server:
// it is answered 503 with Retry-After, a JSON error body and Connection:
// close (after its request header, read within 2 s), then closed. Open
// and rejected connections are counted on cfg.Registry when it is set
// (dynamod_http_connections, dynamod_http_connections_rejected_total).
func LimitListener(ln net.Listener, cfg Config) net.Listener {
	cfg = cfg.withDefaults()
	l := &limitListener{
		Listener:  ln,
		slots:     make(chan struct{}, cfg.MaxConnections),
		rejecting: make(chan struct{}, maxRejecting),
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dynamod_http_connections",
			Help: "Client connections open.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dynamod_http_connections_rejected_total",
			Help: "Client connections refused (answered 503 or closed) because MaxConnections were open.",
		}),
	}
	if cfg.Registry != nil {
		l.open = register(cfg.Registry, l.open)
		l.rejected = register(cfg.Registry, l.rejected)
	}
	return l
}

// register registers c on reg, or returns the collector already there.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
	}
	return c
}

type limitListener struct {
	net.Listener
	slots     chan struct{} // one per open connection
	rejecting chan struct{} // one per connection being refused
	open      prometheus.Gauge
	rejected  prometheus.Counter
}

// Accept returns the next connection that fits under the limit; the ones
// that do not are refused on the side.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			l.open.Inc()
			return &limitConn{Conn: c, release: l.release}, nil
		default:
		}
		l.rejected.Inc()
		select {
		case l.rejecting <- struct{}{}:
			go func() {
				defer func() { <-l.rejecting }()
				refuse(c)
			}()
		default:
			_ = c.Close()
		}
	}
}

func (l *limitListener) release() {
	l.open.Dec()
	<-l.slots
}

// overloadBody is the JSON body of a 503 past a connection limit.
var overloadBody = []byte(`{"error":"overloaded","detail":"too many connections; retry later"}` + "\n")

// refuse answers c 503 and closes it. It reads the request header first,
// so that the client reads the answer as the response to its request, and
// drains a little after the answer, so that closing does not reset the
// connection before the client has read it.
func refuse(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(rejectTimeout))
	br := bufio.NewReaderSize(io.LimitReader(c, MaxHeaderBytes), 4<<10)
	_, _ = nethttp.ReadRequest(br) // answered whatever it is
	_, err := io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\n"+
		"Content-Type: application/json\r\n"+
		"X-Content-Type-Options: nosniff\r\n"+
		"Cache-Control: no-store\r\n"+
		"Retry-After: "+strconv.Itoa(retryAfter)+"\r\n"+
		"Connection: close\r\n"+
		"Content-Length: "+strconv.Itoa(len(overloadBody))+"\r\n\r\n")
	if err == nil {
		_, err = c.Write(overloadBody)
	}
	if err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 256<<10))
}

// limitConn gives its slot back when it is closed (once).
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite half-closes the connection when the inner one can, as
// net/http does before closing after an error, so that the client reads
// the answer before a reset.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
