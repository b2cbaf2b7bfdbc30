package http

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	nethttp "net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures [NewHandler]. It is read once; later changes have no
// effect.
type Config struct {
	// Logger gets a Debug line per request and an Error line per internal
	// error. nil: discard.
	Logger *slog.Logger
	// Registry registers the handler's metrics. nil: a private registry.
	Registry prometheus.Registerer
	// Gatherer is what [NewAdminHandler]'s /metrics serves. nil: Registry
	// if it is also a Gatherer (a *prometheus.Registry is); otherwise
	// /metrics is not served. The client API serves no metrics.
	Gatherer prometheus.Gatherer
	// EnablePprof mounts net/http/pprof under /debug/pprof/ of
	// [NewAdminHandler]. Default false.
	EnablePprof bool
	// ClientAuth is when the client API asks for a bearer token
	// (auth.go). Zero: AuthOff.
	ClientAuth ClientAuth
	// Tokens are the cluster's tokens, checked by ClientAuth and managed
	// under /admin/tokens. nil: no token exists (AuthOn then refuses every
	// request but /ping and /ready) and /admin/tokens is not served.
	Tokens TokenStore
	// RequireClientCert answers 401 to every request but /ping and /ready
	// that did not come over TLS with a client certificate the server
	// verified (the listener's tls.Config checks the chain: serve's
	// --http-client-ca). It is checked before, and on top of, tokens.
	RequireClientCert bool
	// MaxBodyBytes is the hard cap on the bytes read from one request body,
	// whatever a bucket's max_value_bytes allows (that one gives 413 below
	// this cap). Default 16 MiB + 64 KiB; <= 0 takes the default.
	MaxBodyBytes int64
	// ListKeysTimeout bounds a key listing that has no timeout parameter.
	// Default 60 s; <= 0 takes the default. Other requests without one
	// use Backend.DefaultTimeout.
	ListKeysTimeout time.Duration
	// BodyTimeout is the time a client has to send a request body, from
	// the end of its header; a body still incomplete then is a 408 and
	// the connection is closed. Default 30 s; <= 0 takes the default.
	BodyTimeout time.Duration
	// WriteTimeout is the time a client has to take an answer once the
	// request's own deadline (its timeout parameter, or the default of
	// its route) has passed; then the connection is closed. Default 30 s;
	// <= 0 takes the default.
	WriteTimeout time.Duration
	// ReadHeaderTimeout and IdleTimeout are [NewServer]'s: the time to
	// send a request header, and to keep an idle keep-alive connection.
	// Defaults 10 s and 60 s; <= 0 takes the default.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// MaxConnections bounds the client connections [LimitListener] keeps
	// open; past it a new connection is answered 503 and closed. Default
	// 1024; <= 0 takes the default.
	MaxConnections int
	// Observe, when set, is called once per answered request with its
	// route name, method, status and time taken (the node's
	// /cluster/stats). It must be cheap and safe for concurrent use.
	Observe func(route, method string, status int, elapsed time.Duration)
	// MaxInflightBytes bounds the request body bytes held at once, from
	// the first byte read to the end of the request; a body that would go
	// past it is answered 503 with Retry-After. At least MaxBodyBytes.
	// Default 256 MiB; <= 0 takes the default.
	MaxInflightBytes int64
	// UI serves the dashboard (package ui) at /ui and under /ui/, GET and
	// HEAD, with no token: the page holds no data, and its own requests
	// carry the operator's token. nil: not served.
	UI nethttp.Handler
}

// Defaults and bounds.
const (
	defaultMaxBodyBytes    = 16<<20 + 64<<10
	defaultListKeysTimeout = 60 * time.Second
	defaultBodyTimeout     = 30 * time.Second
	defaultWriteTimeout    = 30 * time.Second
	defaultHeaderTimeout   = 10 * time.Second
	defaultIdleTimeout     = 60 * time.Second
	defaultMaxConnections  = 1024
	defaultMaxInflight     = 256 << 20
	// maxTimeout bounds the timeout query parameter.
	maxTimeout = 10 * time.Minute
	// maxPropsBytes bounds a bucket-properties body.
	maxPropsBytes = 64 << 10
)

// DefaultConfig returns the configuration of a production node, minus the
// logger and registry the node supplies.
func DefaultConfig() Config {
	return Config{}.withDefaults()
}

// Validate reports every bad field. Zero values are valid (they take the
// defaults); negative sizes and durations are not.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("http: MaxBodyBytes must be >= 0, got %d", c.MaxBodyBytes))
	}
	if c.MaxConnections < 0 {
		errs = append(errs, fmt.Errorf("http: MaxConnections must be >= 0, got %d", c.MaxConnections))
	}
	if c.MaxInflightBytes < 0 {
		errs = append(errs, fmt.Errorf("http: MaxInflightBytes must be >= 0, got %d", c.MaxInflightBytes))
	} else if d := c.withDefaults(); d.MaxInflightBytes < d.MaxBodyBytes {
		errs = append(errs, fmt.Errorf("http: MaxInflightBytes (%d) must be at least MaxBodyBytes (%d)", d.MaxInflightBytes, d.MaxBodyBytes))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ListKeysTimeout", c.ListKeysTimeout}, {"BodyTimeout", c.BodyTimeout}, {"WriteTimeout", c.WriteTimeout},
		{"ReadHeaderTimeout", c.ReadHeaderTimeout}, {"IdleTimeout", c.IdleTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("http: %s must be >= 0, got %v", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// withDefaults replaces zero and negative limits by their defaults.
func (c Config) withDefaults() Config {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = defaultMaxBodyBytes
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = defaultMaxConnections
	}
	if c.MaxInflightBytes <= 0 {
		c.MaxInflightBytes = defaultMaxInflight
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&c.ListKeysTimeout, defaultListKeysTimeout},
		{&c.BodyTimeout, defaultBodyTimeout},
		{&c.WriteTimeout, defaultWriteTimeout},
		{&c.ReadHeaderTimeout, defaultHeaderTimeout},
		{&c.IdleTimeout, defaultIdleTimeout},
	} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	return c
}

// api holds what every handler needs. It is immutable after NewHandler.
type api struct {
	b   Backend
	cfg Config
	log *slog.Logger
	m   *metrics
	// inflight counts the request body bytes held (Config.MaxInflightBytes).
	inflight atomic.Int64
	// deadlines shares the requests' deadline contexts (deadline.go).
	deadlines deadlines
}

// NewHandler returns the client API over b. The handler is safe for
// concurrent use. Metrics are registered on cfg.Registry, so one registry
// takes one handler.
func NewHandler(b Backend, cfg Config) nethttp.Handler {
	cfg = cfg.withDefaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	a := &api{b: b, cfg: cfg, log: cfg.Logger.With("component", "http"), m: newMetrics(cfg.Registry)}
	return a.recoverAndMeasure(a.withKVFastPath(a.router()))
}

// newRouter returns a router matching paths as the client encoded them,
// with JSON answers for unknown paths (404) and methods (405).
func (a *api) newRouter() *mux.Router {
	r := mux.NewRouter().SkipClean(true).UseEncodedPath()
	r.NotFoundHandler = a.route("unmatched", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		a.writeError(w, r, errNoRoute)
	})
	r.MethodNotAllowedHandler = a.route("unmatched", func(w nethttp.ResponseWriter, req *nethttp.Request) {
		w.Header().Set("Allow", strings.Join(allowedMethods(r, req), ", "))
		a.writeError(w, req, errMethodNotAllowed)
	})
	return r
}

// router builds the routes. SkipClean and UseEncodedPath make the router
// match the path exactly as the client encoded it, so a key may contain any
// bytes (a "/" travels as %2F) and is never cleaned or redirected. Empty
// segments match too, so that an empty bucket or key is a 400, not a 404.
func (a *api) router() *mux.Router {
	r := a.newRouter()

	const (
		object  = "/kv/{bucket:[^/]*}/{key:[^/]*}"
		bucket  = "/kv/{bucket:[^/]*}"
		props   = "/buckets/{bucket:[^/]*}/props"
		preflst = "/cluster/preflist/{bucket:[^/]*}/{key:[^/]*}"
		types   = "/types/{bucket:[^/]*}/{key:[^/]*}"
	)
	r.Handle(object, a.route("kv_object", a.getObject)).Methods("GET", "HEAD")
	r.Handle(object, a.route("kv_object", a.putObject)).Methods("PUT")
	r.Handle(object, a.route("kv_object", a.deleteObject)).Methods("DELETE")
	r.Handle(bucket, a.route("kv_bucket", a.listKeys)).Methods("GET")
	r.Handle(bucket, a.route("kv_bucket", a.postObject)).Methods("POST")
	r.Handle(types, a.route("types", a.getType)).Methods("GET")   // types.go
	r.Handle(types, a.route("types", a.postType)).Methods("POST") // types.go
	r.Handle("/buckets", a.route("buckets", a.listBuckets)).Methods("GET")
	r.Handle(props, a.route("bucket_props", a.getProps)).Methods("GET")
	r.Handle(props, a.route("bucket_props", a.putProps)).Methods("PUT")
	r.Handle(props, a.route("bucket_props", a.deleteProps)).Methods("DELETE")
	r.Handle("/cluster", a.route("cluster", a.cluster)).Methods("GET")
	r.Handle("/cluster/stats", a.route("stats", a.stats)).Methods("GET")
	r.Handle(preflst, a.route("preflist", a.preflist)).Methods("GET")
	r.Handle("/cluster/pbs", a.route("pbs", a.pbs)).Methods("GET") // pbs.go
	r.Handle("/admin/find/{what}", a.route("find", a.find)).Methods("GET")
	r.Handle("/admin/leave", a.route("leave", a.leave)).Methods("POST")
	r.Handle("/admin/remove/{name}", a.route("remove", a.remove)).Methods("POST")
	r.Handle("/ping", a.route("ping", a.ping)).Methods("GET", "HEAD")
	r.Handle("/ready", a.route("ready", a.ready)).Methods("GET", "HEAD")
	a.tokenRoutes(r)
	a.keyringRoutes(r) // keyring.go
	if a.cfg.UI != nil {
		// /ui and /ui/..., not /uix: a path no route serves stays behind
		// the default deny.
		r.PathPrefix("/ui").MatcherFunc(func(req *nethttp.Request, _ *mux.RouteMatch) bool {
			p := req.URL.EscapedPath()
			return p == "/ui" || strings.HasPrefix(p, "/ui/")
		}).Handler(a.route("ui", a.cfg.UI.ServeHTTP)).Methods("GET", "HEAD")
	}
	// /metrics and /debug/pprof are the admin listener's (admin.go).
	return r
}

// withKVFastPath serves GET, HEAD, PUT and DELETE of /kv/{bucket}/{key}
// (nine in ten requests of a key-value load) without the router, and
// everything else with it. The router matches these first and exactly so
// (its first three routes: the escaped path against
// ^/kv/([^/]*)/([^/]*)$, and the method), so the answer is the same; the
// route variables go to the request's path values (pathVar reads both)
// instead of the router's copy of the request with a context value and a
// map, which with the matching itself cost a node 3 % of its CPU and 5 %
// of its allocated objects under load. TestKVFastPath_sameAsRouter holds
// the two to the same decisions.
func (a *api) withKVFastPath(router nethttp.Handler) nethttp.Handler {
	get := a.route("kv_object", a.getObject)
	put := a.route("kv_object", a.putObject)
	del := a.route("kv_object", a.deleteObject)
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		var h nethttp.Handler
		switch r.Method {
		case "GET", "HEAD":
			h = get
		case "PUT":
			h = put
		case "DELETE":
			h = del
		}
		if h != nil {
			if bucket, key, ok := kvObjectPath(r.URL.EscapedPath()); ok {
				info := infoOf(w)
				info.fast, info.bucket, info.key = true, bucket, key
				h.ServeHTTP(w, r)
				return
			}
		}
		router.ServeHTTP(w, r)
	})
}

// kvObjectPath splits an escaped path of the form /kv/{bucket}/{key},
// where neither holds a "/" (either may be empty).
func kvObjectPath(p string) (bucket, key string, ok bool) {
	rest, ok := strings.CutPrefix(p, "/kv/")
	if !ok {
		return "", "", false
	}
	bucket, key, ok = strings.Cut(rest, "/")
	if !ok || strings.IndexByte(key, '/') >= 0 {
		return "", "", false
	}
	return bucket, key, true
}

// noWriteDeadline lifts the write deadline the middleware set.
func noWriteDeadline(h nethttp.HandlerFunc) nethttp.HandlerFunc {
	return func(w nethttp.ResponseWriter, r *nethttp.Request) {
		setWriteDeadline(w, time.Time{})
		h(w, r)
	}
}

// setWriteDeadline and setReadDeadline do what a
// nethttp.ResponseController's methods of the same names do, without a
// controller allocated per call. A writer without deadlines is left
// alone, as the controller's ErrNotSupported is ignored everywhere.
func setWriteDeadline(w nethttp.ResponseWriter, t time.Time) {
	if d := deadlinesOf(w); d != nil {
		_ = d.SetWriteDeadline(t)
	}
}

func setReadDeadline(w nethttp.ResponseWriter, t time.Time) {
	if d := deadlinesOf(w); d != nil {
		_ = d.SetReadDeadline(t)
	}
}

// connDeadlines is what net/http's own ResponseWriter offers to set the
// connection's deadlines.
type connDeadlines interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// deadlinesOf unwraps w down to the writer that sets its connection's
// deadlines, or nil if there is none.
func deadlinesOf(w nethttp.ResponseWriter) connDeadlines {
	for {
		switch x := w.(type) {
		case connDeadlines:
			return x
		case interface{ Unwrap() nethttp.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}

// allowedMethods lists the methods router serves at req's path, for the
// Allow header of a 405.
func allowedMethods(router *mux.Router, req *nethttp.Request) []string {
	var out []string
	for _, m := range []string{"GET", "HEAD", "PUT", "POST", "DELETE"} {
		probe := req.WithContext(req.Context()) // a shallow copy
		probe.Method = m
		var match mux.RouteMatch
		if router.Match(probe, &match) && match.MatchErr == nil {
			out = append(out, m)
		}
	}
	return out
}

// reqInfo is per-request state shared by the outer middleware and the
// handlers: the request id and, once routed, the route name.
type reqInfo struct {
	id    string
	route string
	// held is the body bytes this request holds against
	// Config.MaxInflightBytes, given back when it ends. Only the
	// request's handler goroutine touches it.
	held int64
	// fast is set when withKVFastPath routed the request, with the
	// route variables bucket and key as the client escaped them.
	fast        bool
	bucket, key string
}

// infoOf returns the request's reqInfo, kept in the middleware's
// ResponseWriter (a context value would cost a copy of the request), or an
// empty one outside the middleware.
func infoOf(w nethttp.ResponseWriter) *reqInfo {
	if sw, ok := w.(*statusWriter); ok {
		return &sw.info
	}
	return &reqInfo{}
}

// route names a handler for metrics and logs, and checks the request's
// token for it (auth.go) before the handler runs.
func (a *api) route(name string, h nethttp.HandlerFunc) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		infoOf(w).route = name
		if !a.authorize(w, r, name) {
			return
		}
		h(w, r)
	})
}

// recoverAndMeasure wraps the router: it assigns a request id, records
// metrics, logs at Debug, and turns a handler panic into a logged 500 (or,
// when the status is already sent, an aborted connection).
// No handler path is meant to need the recovery; dynamod_http_panics_total
// counts the ones that did.
func (a *api) recoverAndMeasure(next nethttp.Handler) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, info: reqInfo{id: newRequestID(), route: "unmatched"}, start: start}
		info := &sw.info
		// Set by hand: the canonical names are written out, and the
		// values need no allocation of their own (see statusWriter.idHdr).
		h := w.Header()
		sw.idHdr[0] = info.id
		h["Dynamod-Request-Id"] = sw.idHdr[:]
		// Values are served with the Content-Type their writer chose; a
		// browser must not sniff one into HTML or script. Every answer
		// carries it, values and JSON alike.
		h["X-Content-Type-Options"] = nosniff
		// Until a handler knows its own deadline (a.withTimeout), the
		// answer must be taken within the default request timeout plus
		// WriteTimeout. A body must arrive within BodyTimeout; the
		// handler that reads it lifts the deadline at its end. A request
		// without one gets no read deadline: net/http's background read
		// for the next request then runs, and a deadline expiring under it
		// would cancel the request's context.
		setWriteDeadline(w, start.Add(a.b.DefaultTimeout()+a.cfg.WriteTimeout))
		if r.ContentLength != 0 { // NoBody has 0, chunked -1
			setReadDeadline(w, start.Add(a.cfg.BodyTimeout))
		}

		defer func() {
			a.release(info)
			p := recover()
			if p == nethttp.ErrAbortHandler {
				panic(p)
			}
			abort := false
			if p != nil {
				a.m.panics.Inc()
				a.log.Error("handler panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()),
					"request_id", info.id, "route", info.route, "method", r.Method)
				if sw.wroteHeader {
					abort = true // a truncated answer must not look complete
				} else {
					a.writeError(sw, r, errPanic)
				}
			}
			if sw.status == 0 {
				sw.status = nethttp.StatusOK // nothing written: net/http sends 200
			}
			elapsed := time.Since(start)
			method := methodLabel(r.Method)
			a.m.observe(info.route, method, sw.status, elapsed.Seconds())
			if a.cfg.Observe != nil {
				a.cfg.Observe(info.route, method, sw.status, elapsed)
			}
			if a.log.Enabled(r.Context(), slog.LevelDebug) { // its arguments cost allocations
				a.log.Debug("request", "method", r.Method, "route", info.route, "path", r.URL.EscapedPath(),
					"status", sw.status, "elapsed", elapsed, "request_id", info.id)
			}
			if abort {
				panic(nethttp.ErrAbortHandler) // net/http closes the connection quietly
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// hold takes n more body bytes for the request against
// Config.MaxInflightBytes; past the limit it takes nothing and reports
// false.
func (a *api) hold(info *reqInfo, n int64) bool {
	for {
		cur := a.inflight.Load()
		if cur+n > a.cfg.MaxInflightBytes {
			return false
		}
		if a.inflight.CompareAndSwap(cur, cur+n) {
			info.held += n
			a.m.inflight.Set(float64(cur + n))
			return true
		}
	}
}

// release gives back the bytes the request holds.
func (a *api) release(info *reqInfo) {
	if info.held > 0 {
		a.m.inflight.Set(float64(a.inflight.Add(-info.held)))
		info.held = 0
	}
}

// newRequestID returns 16 random hex digits. A request id only correlates
// logs, so math/rand/v2's per-thread generator serves: crypto/rand would
// cost a system call on every request.
func newRequestID() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// nosniff is the value of every answer's X-Content-Type-Options header,
// shared by all of them: header values are never changed in place.
var nosniff = []string{"nosniff"}

// statusWriter records the status written through it.
type statusWriter struct {
	nethttp.ResponseWriter
	status      int
	wroteHeader bool
	info        reqInfo
	idHdr       [1]string // the Dynamod-Request-Id header's value slice
	start       time.Time // when the middleware took the request
	ctx         reqContext
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(nethttp.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends buffered data to the client (streamed key listings).
func (w *statusWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(nethttp.StatusOK)
	}
	_ = nethttp.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (w *statusWriter) Unwrap() nethttp.ResponseWriter { return w.ResponseWriter }
