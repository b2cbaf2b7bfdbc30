package http

import (
	"encoding/json"
	"log/slog"
	"mime"
	nethttp "net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

var fuzzMethods = []string{"GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS", "BREW"}

// FuzzHandlers sends random requests to a handler over the fake backend.
// Whatever the input: no panic (none recovered either), no 5xx except a
// 503 (the backend's timeouts), and every error is a JSON error body.
//
//	go test ./http/ -run '^$' -fuzz FuzzHandlers -fuzztime 60s -parallel 1
func FuzzHandlers(f *testing.F) {
	seeds := []struct {
		method                        uint8
		path, query, hname, hval, ctx string
		ctype, accept                 string
		body                          []byte
	}{
		{0, "/kv/b/k", "", "", "", "", "", "", nil},
		{1, "/kv/b/k", "returnbody=true&w=one", "Dynamod-Meta-Color", "red", "", "text/plain", "", []byte("v")},
		{1, "/kv/b/k", "w=banana", "", "", "AAAA", "", "", []byte("v")},
		{0, "/kv/b/k", "r=99&sibling=x", "", "", "", "", "application/json", nil},
		{2, "/kv/a%2F%2Fb", "returnbody=true", "", "", "", "a b/c", "", []byte("x")},
		{3, "/kv/b/k", "dw=4&timeout=-1", "", "", "%%", "", "", nil},
		{0, "/kv/b", "keys=stream&timeout=10", "", "", "", "", "", nil},
		{0, "/kv/b", "keys=true", "", "", "", "", "", nil},
		{1, "/buckets/b/props", "", "", "", "", "application/json", "", []byte(`{"n_val":1,"r":"all","bogus":[]}`)},
		{1, "/buckets/b/props", "", "", "", "", "application/json", "", []byte(`{"max_value_bytes":1}`)},
		{3, "/buckets/b/props", "", "", "", "", "", "", nil},
		{0, "/cluster/preflist/..%2F/%FF", "", "", "", "", "", "", nil},
		{0, "/kv//", "", "", "", "", "", "", nil},
		{5, "/ready", "", "", "", "", "", "", nil},
		{0, "/metrics", "", "", "", "", "", "", nil},
		{0, "/buckets", "", "", "", "", "", "*/*;q=x", nil},
		{1, "/kv/b/k", "ttl=30m", "Dynamod-TTL", "5s", "", "text/plain", "", []byte("v")},
		{2, "/types/b/k", "w=one", "", "", "", "application/json", "", []byte(`{"increment":3}`)},
		{2, "/types/b/k", "", "", "", "AAAA", "application/json", "", []byte(`{"add":["a"],"remove":["b"],"context":"!!"}`)},
		{2, "/types/b/k", "", "", "", "", "application/json", "", []byte(`{"update":{"f_counter":{"increment":1}},"remove":["g_set"]}`)},
		{0, "/types/b/k", "r=all", "", "", "", "", "", nil},
		{0, "/cluster/pbs", "bucket=b&bucket=c", "", "", "", "", "", nil},
		{0, "/cluster/stats", "", "", "", "", "", "", nil},
		{0, "/ui/", "", "", "", "", "", "", nil},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.hname, s.hval, s.ctx, s.ctype, s.accept, s.body)
	}

	fb := newFake()
	reg := prometheus.NewRegistry()
	h := NewHandler(fb, Config{Registry: reg, Logger: slog.New(slog.DiscardHandler), MaxBodyBytes: 1 << 16})

	f.Fuzz(func(t *testing.T, method uint8, path, query, hname, hval, vctx, ctype, accept string, body []byte) {
		if fb.size() > 10000 { // keep the store, and each exec, small
			fb.reset()
		}
		m := fuzzMethods[int(method)%len(fuzzMethods)]
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		target := "http://dynamod" + path
		if query != "" {
			target += "?" + query
		}
		req, err := nethttp.NewRequest(m, target, strings.NewReader(string(body)))
		if err != nil || req.URL.Host != "dynamod" {
			return // not a request a server would hand us
		}
		// Only headers a server would accept.
		for _, kv := range [][2]string{{hname, hval}, {hdrContext, vctx}, {"Content-Type", ctype}, {"Accept", accept}} {
			if isToken(kv[0]) && validHeaderValue(kv[1]) && kv[1] != "" {
				req.Header.Add(kv[0], kv[1])
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		code := rec.Code
		if code >= 500 && code != nethttp.StatusServiceUnavailable {
			t.Fatalf("%s %s: %d %s", m, target, code, rec.Body.Bytes())
		}
		if code >= 400 && m != "HEAD" {
			var eb errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error == "" {
				t.Fatalf("%s %s: %d with a non-JSON error body %q", m, target, code, rec.Body.Bytes())
			}
			if code == nethttp.StatusServiceUnavailable && eb.Error != "timeout" {
				t.Fatalf("%s %s: 503 %q not from the backend", m, target, rec.Body.Bytes())
			}
		}
		if n := metricValue(t, reg, "dynamod_http_panics_total", nil); n != 0 {
			t.Fatalf("%s %s: the recover middleware caught a panic", m, target)
		}
	})
}

// FuzzQueryAndContentType holds the two request parsers that skip the
// standard library's allocating ones to what those answer: query.values
// to url.ParseQuery's map, parseContentType to mime's parse and format.
//
//	go test ./http/ -run '^$' -fuzz FuzzQueryAndContentType -fuzztime 60s
func FuzzQueryAndContentType(f *testing.F) {
	for _, s := range []string{"r=2&w=1", "r=1&r=2", "r=%zz&r=3;x", "a+b=%20", "text/plain", "Text/Plain; charset=x", "a/b/c"} {
		f.Add(s, "r")
	}
	f.Fuzz(func(t *testing.T, s, name string) {
		m, _ := url.ParseQuery(s)
		first, n := query(s).values(name)
		if want := m[name]; n != len(want) || (n > 0 && first != want[0]) {
			t.Fatalf("query %q, name %q: values gave %q, %d; ParseQuery %q", s, name, first, n, want)
		}
		want := ""
		mt, params, err := mime.ParseMediaType(s)
		if err == nil {
			want = mime.FormatMediaType(mt, params)
		}
		if len(s) > maxContentTypeBytes {
			return // refused for its length before either parser
		}
		got, err := parseContentType(nethttp.Header{"Content-Type": {s}})
		if (err == nil) != (want != "") || got != want {
			t.Fatalf("Content-Type %q: parseContentType %q, %v; mime %q", s, got, err, want)
		}
	})
}
