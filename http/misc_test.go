package http

import (
	"io"
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.do("PUT", "/kv/secret-bucket/secret-key", []byte("12345")).want(t, 204)
	e.do("PUT", "/kv/secret-bucket/secret-key", []byte("67")).want(t, 204)
	e.do("GET", "/kv/secret-bucket/secret-key", nil).want(t, 300)
	e.do("GET", "/kv/secret-bucket/nope", nil).want(t, 404)
	e.do("GET", "/no/such/route", nil).want(t, 404)
	e.do("BREW", "/kv/b/k", nil).want(t, 405)

	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"dynamod_http_requests_total", map[string]string{"route": "kv_object", "method": "PUT", "code": "204"}, 2},
		{"dynamod_http_requests_total", map[string]string{"route": "kv_object", "method": "GET", "code": "300"}, 1},
		{"dynamod_http_requests_total", map[string]string{"route": "kv_object", "method": "GET", "code": "404"}, 1},
		{"dynamod_http_requests_total", map[string]string{"route": "unmatched", "method": "GET", "code": "404"}, 1},
		{"dynamod_http_requests_total", map[string]string{"route": "unmatched", "method": "other", "code": "405"}, 1},
		{"dynamod_http_request_duration_seconds", map[string]string{"route": "kv_object", "method": "PUT"}, 2},
		{"dynamod_http_read_siblings", nil, 1},
		{"dynamod_http_object_size_bytes", map[string]string{"op": "write"}, 2},
		{"dynamod_http_object_size_bytes", map[string]string{"op": "read"}, 2},
	} {
		if got := metricValue(t, e.reg, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	// Labels never carry buckets, keys or raw methods. /metrics is the
	// admin listener's, not the client API's.
	e.do("GET", "/metrics", nil).want(t, 404)
	r := serve(NewAdminHandler(e.f, Config{Registry: e.reg}), mustRequest(t, "GET", "/metrics", ""))
	body := r.String()
	if r.code != 200 || strings.Contains(body, "secret") || strings.Contains(body, "BREW") || !strings.Contains(body, "dynamod_http_panics_total 0") {
		t.Errorf("/metrics exposes request data or lacks the panic counter:\n%s", body)
	}
}

func TestPprof(t *testing.T) {
	// Only on the admin listener, and only when enabled.
	e := newEnv(t, func(c *Config) { c.EnablePprof = true })
	e.do("GET", "/debug/pprof/", nil).want(t, 404)
	e.do("GET", "/debug/pprof/cmdline", nil).want(t, 404)
	h := NewAdminHandler(newFake(), Config{EnablePprof: true})
	if r := serve(h, mustRequest(t, "GET", "/debug/pprof/", "")); r.code != 200 || !contains(r.String(), "goroutine") {
		t.Errorf("pprof index: %d %.200s", r.code, r.body)
	}
	for _, p := range []string{"/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1"} {
		if r := serve(h, mustRequest(t, "GET", p, "")); r.code != 200 {
			t.Errorf("GET %s = %d", p, r.code)
		}
	}
	if r := serve(NewAdminHandler(newFake(), Config{}), mustRequest(t, "GET", "/debug/pprof/", "")); r.code != 404 {
		t.Errorf("pprof without EnablePprof = %d, want 404", r.code)
	}
}

func TestConfig(t *testing.T) {
	d := DefaultConfig()
	if d.MaxBodyBytes != 16<<20+64<<10 || d.ListKeysTimeout <= 0 || d.EnablePprof || d.Validate() != nil {
		t.Errorf("DefaultConfig = %+v", d)
	}
	err := Config{MaxBodyBytes: -1, ListKeysTimeout: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "MaxBodyBytes") || !strings.Contains(err.Error(), "ListKeysTimeout") {
		t.Errorf("Validate = %v, want both fields named", err)
	}
	err = Config{BodyTimeout: -1, WriteTimeout: -1, ReadHeaderTimeout: -1, IdleTimeout: -1, MaxConnections: -1, MaxInflightBytes: -1}.Validate()
	for _, f := range []string{"BodyTimeout", "WriteTimeout", "ReadHeaderTimeout", "IdleTimeout", "MaxConnections", "MaxInflightBytes"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("Validate = %v, want %s named", err, f)
		}
	}
	if err := (Config{MaxBodyBytes: 1 << 20, MaxInflightBytes: 1<<20 - 1}).Validate(); err == nil {
		t.Error("Validate accepts MaxInflightBytes below MaxBodyBytes")
	}

	// The zero Config works.
	h := NewHandler(newFake(), Config{})
	if r := serve(h, mustRequest(t, "GET", "/ping", "")); r.code != 200 {
		t.Errorf("zero Config /ping = %d", r.code)
	}
	// The admin listener serves the registry the client API registers on.
	reg := prometheus.NewRegistry()
	h = NewHandler(newFake(), Config{Registry: reg})
	serve(h, mustRequest(t, "GET", "/ping", ""))
	if r := serve(NewAdminHandler(newFake(), Config{Registry: reg}), mustRequest(t, "GET", "/metrics", "")); r.code != 200 || !contains(r.String(), "dynamod_http_panics_total") {
		t.Errorf("admin /metrics = %d", r.code)
	}
	// A Registerer that cannot gather: no /metrics unless a Gatherer is given.
	reg = prometheus.NewRegistry()
	wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"node": "n1"}, reg)
	h = NewHandler(newFake(), Config{Registry: wrapped})
	if r := serve(NewAdminHandler(newFake(), Config{Registry: wrapped}), mustRequest(t, "GET", "/metrics", "")); r.code != 404 {
		t.Errorf("no Gatherer /metrics = %d, want 404", r.code)
	}
	if r := serve(h, mustRequest(t, "GET", "/ping", "")); r.code != 200 {
		t.Fatal(r.code)
	}
	if r := serve(NewAdminHandler(newFake(), Config{Registry: wrapped, Gatherer: reg}), mustRequest(t, "GET", "/metrics", "")); r.code != 200 || !contains(r.String(), `node="n1"`) {
		t.Errorf("Gatherer /metrics = %d %.300s", r.code, r.body)
	}
	// A nil Logger discards; a given one gets Debug lines per request.
	var buf syncBuffer
	h = NewHandler(newFake(), Config{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	serve(h, mustRequest(t, "GET", "/kv/b/k", ""))
	if !contains(buf.String(), "route=kv_object") || !contains(buf.String(), "status=404") {
		t.Errorf("debug log = %q", buf.String())
	}
}

func TestHead(t *testing.T) {
	e := newEnv(t)
	e.do("PUT", "/kv/b/k", []byte("hello")).want(t, 204)
	r := e.do("HEAD", "/kv/b/k", nil).want(t, 200)
	if len(r.body) != 0 || r.header.Get("Content-Length") != "5" || r.header.Get(hdrContext) == "" {
		t.Errorf("HEAD = %q %v", r.body, r.header)
	}
	e.do("HEAD", "/kv/b/none", nil).want(t, 404)
}

func TestWantsJSON(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                                  false,
		"application/json":                  true,
		"APPLICATION/JSON":                  true,
		"application/json; charset=utf-8":   true,
		"application/*":                     true,
		"*/*":                               false,
		"*/*, application/json":             true,
		"application/json;q=0":              false,
		"application/json;q=0.4, */*;q=0.5": false,
		"application/json;q=0.6, */*;q=0.5": true,
		"multipart/mixed, application/json": false,
		"multipart/*;q=0.1, application/json;q=0.2": true,
		"application/json;q=2":                      false,
		"application/json;q=x, text/plain":          false,
		",,;;,":                                     false,
	} {
		h := nethttp.Header{}
		if accept != "" {
			h.Set("Accept", accept)
		}
		if got := wantsJSON(h); got != want {
			t.Errorf("wantsJSON(%q) = %v, want %v", accept, got, want)
		}
	}
}

// TestReadBody_clientGone: a body that fails mid-read is a 400, not a 500.
func TestReadBody_clientGone(t *testing.T) {
	e := newEnv(t)
	req := mustRequest(t, "PUT", "/kv/b/k", "")
	req.Body, req.ContentLength = io.NopCloser(io.MultiReader(strings.NewReader("part"), errReader{})), 10
	if r := serve(e.h, req); r.code != 400 {
		t.Errorf("= %d %s, want 400", r.code, r.body)
	}
	if e.f.writes.Load() != 0 {
		t.Error("a half-read body was stored")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestAdmin_leaveAndRemove(t *testing.T) {
	f := newFake()
	h := NewHandler(f, DefaultConfig())
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"POST", "/admin/leave", 202, `"leaving"`},
		{"GET", "/admin/leave", 405, "method not allowed"},
		{"POST", "/admin/remove/dead", 200, `"removed":"dead"`},
		{"POST", "/admin/remove/alive", 409, "member is alive"},
		{"POST", "/admin/remove/nope", 400, "unknown member"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s %s = %d %s, want %d containing %s", tc.method, tc.path, rec.Code, rec.Body, tc.status, tc.body)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.leaving {
		t.Error("POST /admin/leave did not reach the backend")
	}
}
