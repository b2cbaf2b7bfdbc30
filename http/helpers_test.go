package http

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// env is one handler over a fake backend, served by httptest.
type env struct {
	t      *testing.T
	f      *fakeBackend
	reg    *prometheus.Registry
	h      nethttp.Handler
	srv    *httptest.Server
	client *nethttp.Client
	logs   *syncBuffer
	// panicsOK is set by the test that exercises the recover middleware.
	panicsOK bool
}

// newEnv starts a server. Every env checks at cleanup that no request
// needed the recover middleware.
func newEnv(t *testing.T, opts ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t, f: newFake(), reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	cfg := DefaultConfig()
	cfg.Registry = e.reg
	// Info and above print with a failure; the buffer keeps everything.
	cfg.Logger = slog.New(slog.NewMultiHandler(
		slog.NewTextHandler(t.Output(), nil),
		slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	for _, o := range opts {
		o(&cfg)
	}
	e.h = NewHandler(e.f, cfg)
	e.srv = httptest.NewServer(e.h)
	t.Cleanup(e.srv.Close)
	// Never follow redirects: a key must not be answered with one.
	e.client = &nethttp.Client{CheckRedirect: func(*nethttp.Request, []*nethttp.Request) error {
		return nethttp.ErrUseLastResponse
	}}
	t.Cleanup(func() {
		if n := metricValue(t, e.reg, "dynamod_http_panics_total", nil); n != 0 && !e.panicsOK {
			t.Errorf("recover middleware caught %v panics; no handler path may need it", n)
		}
	})
	return e
}

// metricValue sums the samples of counter or histogram (its count) name
// whose labels include want.
func metricValue(t testing.TB, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue metric
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// resp is a finished response.
type resp struct {
	code   int
	header nethttp.Header
	body   []byte
}

func (r resp) String() string { return string(r.body) }

// errorBody decodes a JSON error body, failing the test if it is not one.
func (r resp) errorBody(t *testing.T) map[string]any {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error response Content-Type = %q, want application/json (body %q)", ct, r.body)
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if s, _ := m["error"].(string); s == "" {
		t.Fatalf("error body %q has no error", r.body)
	}
	return m
}

// do sends one request. hdr is name, value pairs.
func (e *env) do(method, path string, body []byte, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := nethttp.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return e.send(req)
}

func (e *env) send(req *nethttp.Request) resp {
	e.t.Helper()
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return resp{code: res.StatusCode, header: res.Header, body: b}
}

// want fails unless r has status code.
func (r resp) want(t *testing.T, code int) resp {
	t.Helper()
	if r.code != code {
		t.Fatalf("status = %d, want %d; body %q", r.code, code, r.body)
	}
	return r
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// serve runs req through h in-process (for requests a real client would
// not send).
func serve(h nethttp.Handler, req *nethttp.Request) resp {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return resp{code: rec.Code, header: rec.Result().Header, body: rec.Body.Bytes()}
}
