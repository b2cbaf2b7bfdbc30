package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults of the options.
const (
	// DefaultTimeout bounds one attempt against one node.
	DefaultTimeout = 10 * time.Second
	// DefaultRetries is how many times a request that failed on every node
	// is tried again, after a backoff.
	DefaultRetries = 2
	// DefaultBackoff and DefaultMaxBackoff shape the exponential backoff
	// between retries: attempt i waits a random time in [b/2, b] with
	// b = min(DefaultBackoff·2^i, DefaultMaxBackoff).
	DefaultBackoff    = 50 * time.Millisecond
	DefaultMaxBackoff = 2 * time.Second
)

// maxResponse bounds a response body the client reads into memory: 100
// siblings of the server's 16 MiB default limit, base64-encoded, fit.
const maxResponse int64 = 4 << 30

// Client talks to a dynamod cluster. It is safe for concurrent use by many
// goroutines, which share its connection pool.
type Client struct {
	nodes      []string // base URLs without a trailing slash
	hc         *http.Client
	own        *http.Transport // the transport New made, if it made one
	timeout    time.Duration   // per attempt; 0: none
	retries    int
	backoff    time.Duration
	maxBackoff time.Duration
	next       atomic.Uint64 // round-robin position of the next request
	token      string        // sent as a bearer token when set (auth.go)
	tlsConf    *tls.Config   // the own transport's TLS config (auth.go)
}

// Option configures a [Client].
type Option func(*Client)

// WithHTTPClient makes the client send requests with hc instead of an
// http.Client over [NewTransport]. hc's own Timeout, if any, still applies.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.hc = hc }
}

// WithTimeout bounds each attempt against one node; a node that does not
// answer in time counts as unreachable and the request moves on to the next
// one. Default [DefaultTimeout]; 0 means no bound other than the caller's
// context. It is independent of the server-side timeout in [ReadOptions]
// and [WriteOptions].
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.timeout = d }
}

// WithRetries sets how many times a request that failed on every node
// (connection errors, 503) is tried again, and how many times
// [Client.Update] retries its read-modify-write cycle. Default
// [DefaultRetries]; 0 disables retries but keeps failover across nodes.
func WithRetries(n int) Option {
	return func(c *Client) { c.retries = n }
}

// WithBackoff sets the base and the cap of the exponential backoff between
// retries. Defaults [DefaultBackoff] and [DefaultMaxBackoff].
func WithBackoff(base, max time.Duration) Option {
	return func(c *Client) { c.backoff, c.maxBackoff = base, max }
}

// NewTransport returns an http.Transport tuned for many concurrent requests
// to a few hosts. The default transport keeps only 2 idle connections per
// host, so 64 concurrent clients keep opening and closing connections; this
// one keeps up to 512 per host.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
}

// New returns a client for the nodes, given as base URLs such as
// "http://127.0.0.1:7070". Any node serves any request.
func New(nodes []string, opts ...Option) (*Client, error) {
	c := &Client{
		timeout:    DefaultTimeout,
		retries:    DefaultRetries,
		backoff:    DefaultBackoff,
		maxBackoff: DefaultMaxBackoff,
	}
	for _, o := range opts {
		o(c)
	}
	var errs []error
	if len(nodes) == 0 {
		errs = append(errs, errors.New("client: no nodes"))
	}
	for _, n := range nodes {
		u, err := url.Parse(n)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("client: node %q: want a base URL like http://host:port", n))
			continue
		}
		c.nodes = append(c.nodes, strings.TrimRight(n, "/"))
	}
	if c.timeout < 0 {
		errs = append(errs, fmt.Errorf("client: timeout must be >= 0, got %v", c.timeout))
	}
	if c.retries < 0 {
		errs = append(errs, fmt.Errorf("client: retries must be >= 0, got %d", c.retries))
	}
	if c.backoff <= 0 || c.maxBackoff < c.backoff {
		errs = append(errs, fmt.Errorf("client: backoff must satisfy 0 < base <= max, got %v, %v", c.backoff, c.maxBackoff))
	}
	errs = append(errs, c.checkAuthOptions())
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if c.hc == nil {
		c.own = NewTransport()
		c.own.TLSClientConfig = c.tlsConf
		c.hc = &http.Client{Transport: c.own}
	}
	return c, nil
}

// Nodes returns the nodes' base URLs.
func (c *Client) Nodes() []string { return append([]string(nil), c.nodes...) }

// CloseIdleConnections closes the pooled connections that are idle. The
// client stays usable.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// request is one API call, replayable against any node.
type request struct {
	op     string // for errors, e.g. "get cart/alice"
	method string
	path   string // escaped, starting with '/'
	query  url.Values
	header http.Header
	body   []byte
}

// response is a node's answer with the body read.
type response struct {
	node   string
	status int
	header http.Header
	body   []byte
}

// call sends rq with failover across the nodes and, when every node failed
// transiently, retries with backoff up to retries times.
func (c *Client) call(ctx context.Context, rq *request, retries int) (*response, error) {
	for attempt := 0; ; attempt++ {
		r, err := c.do(ctx, rq)
		if err == nil || !transient(err) || attempt >= retries {
			return r, err
		}
		if err := c.sleep(ctx, attempt); err != nil {
			return nil, fmt.Errorf("client: %s: %w", rq.op, err)
		}
	}
}

// transient reports whether err is worth retrying later.
func transient(err error) bool { return errors.Is(err, ErrUnavailable) }

// backoffCap is the longest wait before retry attempt+1:
// min(backoff·2^attempt, maxBackoff), without overflowing.
func (c *Client) backoffCap(attempt int) time.Duration {
	d := c.backoff
	for range attempt {
		if d > c.maxBackoff/2 {
			return c.maxBackoff
		}
		d *= 2
	}
	return min(d, c.maxBackoff)
}

// sleep waits the backoff of the given retry attempt, a random time in
// [cap/2, cap] ("equal jitter"), or until ctx ends.
func (c *Client) sleep(ctx context.Context, attempt int) error {
	d := c.backoffCap(attempt)
	d = d/2 + rand.N(d-d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// do tries rq once on each node, starting at the next round-robin position,
// until one answers with anything but 503. It returns that answer whatever
// its status; callers decide what a status means for them.
func (c *Client) do(ctx context.Context, rq *request) (*response, error) {
	start := c.next.Add(1) - 1
	var unavailable *response
	var lastErr error
	for i := range len(c.nodes) {
		node := c.nodes[(start+uint64(i))%uint64(len(c.nodes))]
		r, err := c.once(ctx, node, rq)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("client: %s: %w", rq.op, ctx.Err())
			}
			lastErr = err
			continue
		}
		if r.status == http.StatusServiceUnavailable {
			unavailable = r
			continue
		}
		return r, nil
	}
	if unavailable != nil {
		return nil, errorFrom(rq.op, unavailable)
	}
	return nil, fmt.Errorf("client: %s: no node answered: %w: %w", rq.op, ErrUnavailable, lastErr)
}

// once sends rq to one node and reads the whole answer.
func (c *Client) once(ctx context.Context, node string, rq *request) (*response, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	u := node + rq.path
	if len(rq.query) > 0 {
		u += "?" + rq.query.Encode()
	}
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("client: %s: %w", rq.op, err)
	}
	for k, v := range rq.header {
		req.Header[k] = v
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("client: %s: read answer of %s: %w", rq.op, node, err)
	}
	if int64(len(b)) > maxResponse {
		return nil, fmt.Errorf("client: %s: answer of %s over %d bytes", rq.op, node, maxResponse)
	}
	return &response{node: node, status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// segment escapes one path segment. "." and ".." are escaped too, so that
// nothing on the way resolves them as relative paths.
func segment(s string) string {
	switch s {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(s)
}

// keyPath is the escaped path of a key.
func keyPath(op, bucket, key string) (string, error) {
	if bucket == "" || key == "" {
		return "", badRequest(op, "empty bucket or key")
	}
	return "/kv/" + segment(bucket) + "/" + segment(key), nil
}
