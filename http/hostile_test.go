package http

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	nethttp "net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/versioning"
	"github.com/prometheus/client_golang/prometheus"
)

// Tests of issue 12: no input from a client can crash or exhaust a node,
// and bad input is a 4xx that changes nothing.

// trickleBody yields data, then fails as a connection that broke would.
type trickleBody struct {
	data []byte
	err  error
}

func (b *trickleBody) Read(p []byte) (int, error) {
	if len(b.data) == 0 {
		return 0, b.err
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}

// TestDeclaredBodyNotAllocated: a PUT that announces 16 MiB and sends a
// few bytes must cost about what it sent, not what it announced.
func TestDeclaredBodyNotAllocated(t *testing.T) {
	e := newEnv(t)
	const declared = 16 << 20
	e.do("PUT", "/buckets/b/props", []byte(`{"max_value_bytes":16777216,"max_siblings":3}`), "Content-Type", "application/json").want(t, 204)
	measure := func() uint64 {
		req := mustRequest(t, "PUT", "/kv/b/k", "")
		req.Body = io.NopCloser(&trickleBody{data: []byte("hello"), err: io.ErrUnexpectedEOF})
		req.ContentLength = declared
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r := serve(e.h, req)
		runtime.ReadMemStats(&after)
		if r.code != 400 {
			t.Fatalf("broken upload = %d %s, want 400", r.code, r.body)
		}
		r.errorBody(t)
		return after.TotalAlloc - before.TotalAlloc
	}
	measure() // warm up: metrics series, pools
	if got := measure(); got > 1<<20 {
		t.Fatalf("a 5-byte upload that announced %d bytes allocated %d bytes", declared, got)
	}
	if n := e.f.size(); n != 0 {
		t.Fatalf("%d keys stored by broken uploads", n)
	}
}

// TestReadLimited: bodies at, under and over the limit, with an honest, a
// false and no announced length, come back whole or as a 413, and the
// buffer is never larger than the body plus one byte (or the first chunk).
func TestReadLimited(t *testing.T) {
	const limit = 100 << 10
	for _, tc := range []struct {
		name     string
		size     int
		declared int64
		tooLarge bool
	}{
		{"empty", 0, 0, false},
		{"empty unknown", 0, -1, false},
		{"small", 10, 10, false},
		{"first chunk exactly", firstBodyChunk, firstBodyChunk, false},
		{"at the limit", limit, limit, false},
		{"at the limit unknown", limit, -1, false},
		{"over the limit unknown", limit + 1, -1, true},
		{"longer than announced", 5000, 10, false},
		{"longer than announced and the limit", limit + 1, 10, true},
		{"shorter than announced", 10, 5000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]byte, tc.size)
			for i := range data {
				data[i] = byte(i)
			}
			got, err := readLimited(&trickleBody{data: data, err: io.EOF}, limit, tc.declared, holdAll)
			if tc.tooLarge {
				if !errors.Is(err, quorum.ErrTooLarge) {
					t.Fatalf("err = %v, want too large", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("= %d bytes, %v; want the %d bytes sent", len(got), err, len(data))
			}
			if c := cap(got); c > max(firstBodyChunk, 2*(tc.size+1)) || (tc.declared == int64(tc.size) && c > max(firstBodyChunk, tc.size+1)) {
				t.Errorf("cap %d for %d bytes announced as %d", c, tc.size, tc.declared)
			}
		})
	}
	t.Run("no progress", func(t *testing.T) {
		if _, err := readLimited(zeroReader{}, limit, -1, holdAll); !errors.Is(err, quorum.ErrBadRequest) {
			t.Fatalf("err = %v, want bad request", err)
		}
	})
}

func holdAll(int64) bool { return true }

// zeroReader never makes progress.
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

// rawConn opens a TCP connection to e's server.
func (e *env) rawConn() net.Conn {
	e.t.Helper()
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	return c
}

// readResponse reads one response from c within d.
func readResponse(t *testing.T, c net.Conn, br *bufio.Reader, d time.Duration) (*nethttp.Response, []byte) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	res, err := nethttp.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response within %v: %v", d, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("response body: %v", err)
	}
	return res, body
}

// TestSlowBodyIsCut: a client that announces a body and trickles it (or
// sends nothing) is answered 408 once BodyTimeout has passed, and its
// connection is closed; nothing is stored.
func TestSlowBodyIsCut(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.BodyTimeout = 300 * time.Millisecond })
	for _, tc := range []struct{ path, sent string }{
		{"/kv/b/k", ""}, {"/kv/b/k", "ab"}, {"/kv/b", "ab"}, {"/buckets/b/props", `{"n_val"`},
	} {
		c := e.rawConn()
		start := time.Now()
		method := "PUT"
		if tc.path == "/kv/b" {
			method = "POST"
		}
		req := method + " " + tc.path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
		if _, err := io.WriteString(c, req+tc.sent); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		res, body := readResponse(t, c, br, 5*time.Second)
		if res.StatusCode != 408 || !json.Valid(body) {
			t.Fatalf("slow upload to %s = %d %q, want 408 with a JSON body", tc.path, res.StatusCode, body)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("answered after %v", el)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := br.Read(make([]byte, 1)); err == nil {
			t.Errorf("connection still open after a timed-out body (read %d bytes)", n)
		}
	}
	if n := e.f.size(); n != 0 {
		t.Fatalf("%d keys stored by timed-out uploads", n)
	}
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	if len(e.f.props) != 0 {
		t.Fatalf("props stored by a timed-out upload: %v", e.f.props)
	}
}

// TestBodyTimeoutSparesSlowAnswers: the body deadline ends with the body.
// A request that takes longer than BodyTimeout to answer (a GET or a PUT
// with a long timeout, a key listing) still gets its answer, and its
// context is not cancelled early.
func TestBodyTimeoutSparesSlowAnswers(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.BodyTimeout = 100 * time.Millisecond
		c.WriteTimeout = 100 * time.Millisecond
	})
	e.do("PUT", "/kv/b/k", []byte("v")).want(t, 204)
	e.f.set(func(f *fakeBackend) { f.blockUntilDone = true })
	for _, tc := range []struct {
		method, path string
		body         []byte
	}{
		{"GET", "/kv/b/k?timeout=500", nil},
		{"PUT", "/kv/b/k?timeout=500", []byte("v2")},
		{"DELETE", "/kv/b/k?timeout=500", nil},
	} {
		r := e.do(tc.method, tc.path, tc.body).want(t, 503)
		if m := r.errorBody(t); m["error"] != "timeout" {
			t.Errorf("%s %s = %s, want the request's own timeout", tc.method, tc.path, r.body)
		}
	}
}

// TestUnreadAnswerIsCut: a client that asks for a large value and never
// reads it holds the handler only until the request's deadline plus
// WriteTimeout.
func TestUnreadAnswerIsCut(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.WriteTimeout = 200 * time.Millisecond })
	e.do("PUT", "/buckets/b/props", []byte(`{"max_value_bytes":16777216,"max_siblings":3}`), "Content-Type", "application/json").want(t, 204)
	big := bytes.Repeat([]byte("x"), 16<<20)
	e.do("PUT", "/kv/b/big", big).want(t, 204)
	c := e.rawConn()
	if _, err := io.WriteString(c, "GET /kv/b/big?timeout=100 HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	answered := func() float64 {
		return metricValue(t, e.reg, "dynamod_http_requests_total", map[string]string{"route": "kv_object", "method": "GET"})
	}
	deadline := time.Now().Add(10 * time.Second)
	for answered() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the handler still writes to a client that reads nothing")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIdleConnectionClosed: the server built by NewServer closes a
// keep-alive connection left idle for IdleTimeout.
func TestIdleConnectionClosed(t *testing.T) {
	cfg := DefaultConfig()
	cfg.IdleTimeout = 200 * time.Millisecond
	srv := NewServer(NewHandler(newFake(), cfg), cfg)
	if srv.ReadHeaderTimeout <= 0 || srv.MaxHeaderBytes <= 0 || srv.WriteTimeout != 0 || srv.ReadTimeout != 0 {
		t.Fatalf("server timeouts: header %v, max header %d, write %v, read %v",
			srv.ReadHeaderTimeout, srv.MaxHeaderBytes, srv.WriteTimeout, srv.ReadTimeout)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	if res, _ := readResponse(t, c, br, 5*time.Second); res.StatusCode != 200 {
		t.Fatalf("ping = %d", res.StatusCode)
	}
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection: read = %v, want EOF", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("closed after %v", el)
	}
}

// TestConnectionLimit: past MaxConnections open connections, a new one is
// answered 503 with Retry-After and a JSON body and closed; once one
// closes, a new connection is served again.
func TestConnectionLimit(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.MaxConnections = 2
	cfg.Registry = reg
	srv := NewServer(NewHandler(newFake(), cfg), cfg)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(inner, cfg)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	ping := func(c net.Conn) (*nethttp.Response, []byte) {
		t.Helper()
		if _, err := io.WriteString(c, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		return readResponse(t, c, bufio.NewReader(c), 5*time.Second)
	}
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	held := []net.Conn{dial(), dial()}
	for _, c := range held {
		if res, _ := ping(c); res.StatusCode != 200 {
			t.Fatalf("ping within the limit = %d", res.StatusCode)
		}
	}
	for range 3 {
		c := dial()
		res, body := ping(c)
		if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || !json.Valid(body) || !res.Close {
			t.Fatalf("past the limit = %d Retry-After %q close %v %q, want 503 with Retry-After, a JSON body, Connection: close",
				res.StatusCode, res.Header.Get("Retry-After"), res.Close, body)
		}
	}
	if n := metricValue(t, reg, "dynamod_http_connections_rejected_total", nil); n != 3 {
		t.Errorf("rejected connections counted %v, want 3", n)
	}
	_ = held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, _ := ping(dial())
		if res.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a slot never came back: %d", res.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// blockingBody yields data, then blocks until release is closed, then
// ends.
type blockingBody struct {
	data    []byte
	release chan struct{}
}

func (b *blockingBody) Read(p []byte) (int, error) {
	if len(b.data) > 0 {
		n := copy(p, b.data)
		b.data = b.data[n:]
		return n, nil
	}
	<-b.release
	return 0, io.EOF
}

// TestInflightBytesLimit: request bodies being read or served hold their
// bytes against MaxInflightBytes; past it a request is answered 503 with
// Retry-After and a JSON body and stores nothing, and once the bytes are
// released it succeeds.
func TestInflightBytesLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.MaxBodyBytes = 32 << 10
		c.MaxInflightBytes = 48 << 10
	})
	inflight := func() float64 {
		mfs, err := e.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "dynamod_http_inflight_bytes" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	slow := &blockingBody{data: bytes.Repeat([]byte("a"), 30000), release: make(chan struct{})}
	req := mustRequest(t, "PUT", "/kv/b/slow", "")
	req.Body, req.ContentLength = io.NopCloser(slow), 32<<10
	done := make(chan resp, 1)
	go func() { done <- serve(e.h, req) }()
	deadline := time.Now().Add(5 * time.Second)
	for inflight() < 30000 {
		if time.Now().After(deadline) {
			close(slow.release)
			t.Fatalf("in-flight bytes = %v, want the slow body's", inflight())
		}
		time.Sleep(5 * time.Millisecond)
	}

	r := e.do("PUT", "/kv/b/k", bytes.Repeat([]byte("b"), 20000))
	close(slow.release)
	if r.code != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("past the in-flight limit = %d Retry-After %q %s, want 503 with Retry-After", r.code, r.header.Get("Retry-After"), r.body)
	}
	if m := r.errorBody(t); m["error"] != "overloaded" {
		t.Errorf("body %s", r.body)
	}
	if r := <-done; r.code != 204 {
		t.Fatalf("slow PUT = %d %s", r.code, r.body)
	}
	if n := e.f.size(); n != 1 {
		t.Fatalf("%d keys stored, want only the slow one", n)
	}
	if v := inflight(); v != 0 {
		t.Fatalf("in-flight bytes = %v after every request ended", v)
	}
	e.do("PUT", "/kv/b/k", bytes.Repeat([]byte("b"), 20000)).want(t, 204)
	e.do("PUT", "/kv/b/k2", bytes.Repeat([]byte("b"), 32<<10)).want(t, 204)
}

// contextOf returns a context of n entries whose counters are counter.
func contextOf(n int, counter uint64) string {
	c := make(versioning.Context, n)
	for i := range c {
		c[i] = versioning.ContextEntry{Actor: versioning.ActorID(i + 1), Counter: counter}
	}
	return c.Encode()
}

// TestContextBounds: a context with more than maxContextEntries entries,
// or with a counter no honest history reaches (2^64-1 would make the next
// write a silent no-op), is a 400 "bad context" on every write, and
// nothing is stored; contexts at the bounds are accepted.
func TestContextBounds(t *testing.T) {
	e := newEnv(t)
	if maxContextEntries < 16 || maxContextEntries%quorum.MaxNVal != 0 {
		t.Fatalf("maxContextEntries %d is not a multiple of MaxNVal", maxContextEntries)
	}
	bad := map[string]string{
		"too many entries":    contextOf(maxContextEntries+1, 1),
		"far too many":        contextOf(70000, 1),
		"counter 2^64-1":      contextOf(1, math.MaxUint64),
		"counter 2^64-2":      contextOf(1, math.MaxUint64-1),
		"counter over bound":  contextOf(1, maxContextCounter+1),
		"long header garbage": strings.Repeat("A", maxContextHeader+1),
	}
	for name, ctx := range bad {
		for _, w := range []struct{ method, path string }{{"PUT", "/kv/b/k"}, {"POST", "/kv/b"}, {"DELETE", "/kv/b/k"}} {
			r := e.do(w.method, w.path, []byte("v"), "Dynamod-Context", ctx)
			if r.code != 400 || r.errorBody(t)["error"] != "bad context" {
				t.Errorf("%s: %s %s = %d %.200s, want 400 bad context", name, w.method, w.path, r.code, r.body)
			}
		}
	}
	if n := e.f.size(); n != 0 || e.f.calls.Load() != 0 {
		t.Fatalf("%d keys stored, %d backend calls by rejected writes", n, e.f.calls.Load())
	}
	e.do("PUT", "/kv/b/k", []byte("v"), "Dynamod-Context", contextOf(maxContextEntries, maxContextCounter)).want(t, 204)
	e.do("PUT", "/kv/b/none", []byte("v")).want(t, 204) // no context at all
	e.do("PUT", "/kv/b/empty", []byte("v"), "Dynamod-Context", " ").want(t, 204)
	if l := len(contextOf(maxContextEntries, maxContextCounter)); l > maxContextHeader {
		t.Fatalf("the largest valid context is %d bytes, over maxContextHeader %d", l, maxContextHeader)
	}
}

// TestNameLimits: keys up to maxKeyBytes and bucket names up to
// maxBucketBytes (decoded bytes) are served on every route that takes
// them; one byte more is a 400 that stores nothing.
func TestNameLimits(t *testing.T) {
	e := newEnv(t)
	if maxKeyBytes != 8<<10 || maxBucketBytes != 255 {
		t.Fatalf("limits %d, %d; the README documents 8 KiB and 255 bytes", maxKeyBytes, maxBucketBytes)
	}
	esc := url.PathEscape
	okKey := strings.Repeat("é", maxKeyBytes/2) // 8 KiB, 24 KiB encoded
	okBucket := strings.Repeat("b", maxBucketBytes)
	longKey := strings.Repeat("k", maxKeyBytes+1)
	longBucket := strings.Repeat("b", maxBucketBytes+1)
	json := []string{"Content-Type", "application/json"}

	e.do("PUT", "/kv/"+esc(okBucket)+"/"+esc(okKey), []byte("v")).want(t, 204)
	e.do("GET", "/kv/"+esc(okBucket)+"/"+esc(okKey), nil).want(t, 200)
	e.do("POST", "/kv/"+esc(okBucket), []byte("v")).want(t, 201)
	e.do("GET", "/kv/"+esc(okBucket)+"?keys=true", nil).want(t, 200)
	e.do("PUT", "/buckets/"+esc(okBucket)+"/props", []byte(`{"n_val":2}`), json...).want(t, 204)
	e.do("GET", "/cluster/preflist/"+esc(okBucket)+"/"+esc(okKey), nil).want(t, 200)
	e.f.reset()

	for _, tc := range []struct {
		method, path string
		hdr          []string
	}{
		{"PUT", "/kv/b/" + esc(longKey), nil},
		{"PUT", "/kv/b/" + strings.Repeat("%C3%A9", maxKeyBytes/2) + "k", nil},
		{"PUT", "/kv/" + longBucket + "/k", nil},
		{"GET", "/kv/b/" + longKey, nil},
		{"HEAD", "/kv/b/" + longKey, nil},
		{"GET", "/kv/" + longBucket + "/k", nil},
		{"DELETE", "/kv/b/" + longKey, nil},
		{"DELETE", "/kv/" + longBucket + "/k", nil},
		{"POST", "/kv/" + longBucket, nil},
		{"GET", "/kv/" + longBucket + "?keys=true", nil},
		{"GET", "/kv/" + longBucket + "?keys=stream", nil},
		{"GET", "/buckets/" + longBucket + "/props", nil},
		{"PUT", "/buckets/" + longBucket + "/props", json},
		{"DELETE", "/buckets/" + longBucket + "/props", nil},
		{"GET", "/cluster/preflist/" + longBucket + "/k", nil},
		{"GET", "/cluster/preflist/b/" + longKey, nil},
		{"PUT", "/kv/b/" + strings.Repeat("k", 200000), nil},
	} {
		body := []byte("v")
		if tc.hdr != nil {
			body = []byte(`{"n_val":2}`)
		}
		r := e.do(tc.method, tc.path, body, tc.hdr...)
		if r.code != 400 {
			t.Errorf("%s %.60s... = %d %.100s, want 400", tc.method, tc.path, r.code, r.body)
		} else if tc.method != "HEAD" {
			r.errorBody(t)
		}
	}
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	if len(e.f.objects) != 0 || len(e.f.props) != 0 {
		t.Fatalf("rejected names stored: %d buckets of objects, %d of props", len(e.f.objects), len(e.f.props))
	}
}

// TestBadPropsStoreNothing: every out-of-range property, an explicit zero
// (which would silently mean "unset") included, is a 400 naming the field,
// and nothing is stored.
func TestBadPropsStoreNothing(t *testing.T) {
	e := newEnv(t)
	put := func(body string) resp {
		return e.do("PUT", "/buckets/b/props", []byte(body), "Content-Type", "application/json")
	}
	for body, field := range map[string]string{
		`{"n_val":0}`:                  "n_val",
		`{"n_val":-1}`:                 "n_val",
		`{"n_val":1000}`:               "n_val",
		`{"max_siblings":0}`:           "max_siblings",
		`{"max_siblings":-3}`:          "max_siblings",
		`{"max_siblings":1000000000}`:  "max_siblings",
		`{"warn_siblings":0}`:          "warn_siblings",
		`{"max_value_bytes":0}`:        "max_value_bytes",
		`{"max_value_bytes":-5}`:       "max_value_bytes",
		`{"warn_value_bytes":0}`:       "warn_value_bytes",
		`{"warn_value_bytes":-1}`:      "warn_value_bytes",
		`{"max_value_bytes":16777216}`: "max_siblings × max_value_bytes",
		`{"resolver":""}`:              "resolver",
		`{"r":0}`:                      "r",
	} {
		r := put(body)
		if r.code != 400 || !contains(r.String(), field) {
			t.Errorf("%s = %d %s, want 400 naming %s", body, r.code, r.body, field)
			continue
		}
		if m := r.errorBody(t); m["error"] != "bad bucket properties" {
			t.Errorf("%s: %s", body, r.body)
		}
	}
	e.f.mu.Lock()
	stored := len(e.f.props)
	e.f.mu.Unlock()
	if stored != 0 {
		t.Fatalf("rejected props stored for %d buckets", stored)
	}
	put(`{"max_value_bytes":16777216,"max_siblings":3}`).want(t, 204)
}

func TestUnsetByZeroNamesFields(t *testing.T) {
	for name := range unsetByZero {
		if len(propFields[name]) == 0 {
			t.Errorf("unsetByZero names %q, which is not a property", name)
		}
	}
}

// TestContentTypeLimit: a Content-Type is at most maxContentTypeBytes (it
// is stored with every value; quorum.ValueOverheadBytes counts on it).
func TestContentTypeLimit(t *testing.T) {
	e := newEnv(t)
	ct := func(n int) string { return "text/plain; x=" + strings.Repeat("a", n-len("text/plain; x=")) }
	r := e.do("PUT", "/kv/b/k", []byte("v"), "Content-Type", ct(maxContentTypeBytes+1))
	if r.code != 415 {
		t.Fatalf("long Content-Type = %d %s, want 415", r.code, r.body)
	}
	r.errorBody(t)
	if n := e.f.size(); n != 0 {
		t.Fatalf("%d keys stored", n)
	}
	e.do("PUT", "/kv/b/k", []byte("v"), "Content-Type", ct(maxContentTypeBytes)).want(t, 204)
	if maxContentTypeBytes+maxMetaBytes+64*4 > quorum.ValueOverheadBytes {
		t.Fatalf("a value's metadata can exceed quorum.ValueOverheadBytes")
	}
}

// TestNosniff: every answer that serves a value (one, a sibling, siblings
// in either form, returnbody) tells browsers not to sniff its type, so
// that a stored text/plain value is never run as HTML or script.
func TestNosniff(t *testing.T) {
	e := newEnv(t)
	e.do("PUT", "/kv/b/one", []byte("<script>alert(1)</script>"), "Content-Type", "text/plain").want(t, 204)
	e.do("PUT", "/kv/b/two", []byte("<html>a"), "Content-Type", "text/plain").want(t, 204)
	e.do("PUT", "/kv/b/two", []byte("<html>b")).want(t, 204)
	sib := ""
	{
		var doc siblingsDoc
		r := e.do("GET", "/kv/b/two", nil, "Accept", "application/json").want(t, 300)
		if err := json.Unmarshal(r.body, &doc); err != nil || len(doc.Siblings) != 2 {
			t.Fatalf("siblings %s: %v", r.body, err)
		}
		sib = doc.Siblings[0].ID
	}
	for _, tc := range []struct {
		method, path string
		body         []byte
		hdr          []string
		code         int
	}{
		{"GET", "/kv/b/one", nil, nil, 200},
		{"HEAD", "/kv/b/one", nil, nil, 200},
		{"GET", "/kv/b/two", nil, nil, 300},
		{"GET", "/kv/b/two", nil, []string{"Accept", "application/json"}, 300},
		{"GET", "/kv/b/two?sibling=" + url.QueryEscape(sib), nil, nil, 200},
		{"PUT", "/kv/b/three?returnbody=true", []byte("<b>x"), []string{"Content-Type", "text/plain"}, 200},
		{"POST", "/kv/b?returnbody=true", []byte("<b>x"), nil, 201},
		{"GET", "/kv/b?keys=true", nil, nil, 200},
	} {
		r := e.do(tc.method, tc.path, tc.body, tc.hdr...).want(t, tc.code)
		if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s: X-Content-Type-Options = %q, want nosniff", tc.method, tc.path, got)
		}
	}
}
