package http

import (
	"context"
	"encoding/json"
	"errors"
	nethttp "net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dynamod/dynamod/quorum"
	"github.com/dynamod/dynamod/versioning"
)

// TestRoutes sends one request per route and status and checks status,
// Content-Type and what the body must contain. Each case starts from a
// store holding b/k = "hello" (text/plain) and b/gone, a tombstone.
func TestRoutes(t *testing.T) {
	for _, tc := range []struct {
		name        string
		setup       func(f *fakeBackend)
		method      string
		path        string
		body        string
		hdr         []string
		code        int
		contentType string // prefix; "" skips the check
		contains    string
		allow       string // of a 405
	}{
		{name: "get value", method: "GET", path: "/kv/b/k", code: 200, contentType: "text/plain", contains: "hello"},
		{name: "head value", method: "HEAD", path: "/kv/b/k", code: 200, contentType: "text/plain"},
		{name: "get missing", method: "GET", path: "/kv/b/none", code: 404, contentType: "application/json", contains: `"not found"`},
		{name: "get tombstone", method: "GET", path: "/kv/b/gone", code: 404, contentType: "application/json", contains: `"not found"`},
		{name: "get missing bucket", method: "GET", path: "/kv/nobucket/k", code: 404, contentType: "application/json"},
		{name: "put", method: "PUT", path: "/kv/b/new", body: "x", code: 204},
		{name: "put empty value", method: "PUT", path: "/kv/b/new", code: 204},
		{name: "put returnbody", method: "PUT", path: "/kv/b/new?returnbody=true", body: "x", hdr: []string{"Content-Type", "text/csv"}, code: 200, contentType: "text/csv", contains: "x"},
		{name: "put returnbody siblings", method: "PUT", path: "/kv/b/k?returnbody=true", body: "x", code: 300, contentType: "multipart/mixed", contains: "hello"},
		{name: "put returnbody=false", method: "PUT", path: "/kv/b/new?returnbody=false", body: "x", code: 204},
		{name: "post", method: "POST", path: "/kv/b", body: "x", code: 201},
		{name: "post returnbody", method: "POST", path: "/kv/b?returnbody=true", body: "xyz", code: 201, contentType: "application/octet-stream", contains: "xyz"},
		{name: "delete", method: "DELETE", path: "/kv/b/k", code: 204},
		{name: "delete missing", method: "DELETE", path: "/kv/b/none", code: 204},
		{name: "keys true", method: "GET", path: "/kv/b?keys=true", code: 200, contentType: "application/json", contains: `{"keys":["k"]}`},
		{name: "keys stream", method: "GET", path: "/kv/b?keys=stream", code: 200, contentType: "application/json", contains: `{"keys":["k"]}`},
		{name: "keys empty bucket", method: "GET", path: "/kv/empty?keys=stream", code: 200, contentType: "application/json", contains: `{"keys":[]}`},
		{name: "keys missing", method: "GET", path: "/kv/b", code: 400, contentType: "application/json", contains: `"keys"`},
		{name: "keys bad", method: "GET", path: "/kv/b?keys=false", code: 400, contentType: "application/json", contains: `"keys"`},
		{name: "keys bad timeout", method: "GET", path: "/kv/b?keys=true&timeout=0", code: 400, contains: `"timeout"`},
		{name: "buckets", method: "GET", path: "/buckets", code: 200, contentType: "application/json", contains: `{"buckets":["b"]}`},
		{name: "props get", method: "GET", path: "/buckets/b/props", code: 200, contentType: "application/json", contains: `"n_val":3`},
		{name: "props put", method: "PUT", path: "/buckets/b/props", body: `{"n_val":2}`, hdr: []string{"Content-Type", "application/json"}, code: 204},
		{name: "props put charset", method: "PUT", path: "/buckets/b/props", body: `{"r":"one"}`, hdr: []string{"Content-Type", "application/json; charset=utf-8"}, code: 204},
		{name: "props put bad", method: "PUT", path: "/buckets/b/props", body: `{"n_val":0.5}`, hdr: []string{"Content-Type", "application/json"}, code: 400, contains: "n_val"},
		{name: "props put text", method: "PUT", path: "/buckets/b/props", body: `{"n_val":2}`, hdr: []string{"Content-Type", "text/plain"}, code: 415, contentType: "application/json"},
		{name: "props put no type", method: "PUT", path: "/buckets/b/props", body: `{"n_val":2}`, code: 415},
		{name: "props delete", method: "DELETE", path: "/buckets/b/props", code: 204},
		{name: "props post", method: "POST", path: "/buckets/b/props", code: 405, contentType: "application/json", allow: "GET, PUT, DELETE"},
		{name: "cluster", method: "GET", path: "/cluster", code: 200, contentType: "application/json", contains: `"members"`},
		{name: "stats", method: "GET", path: "/cluster/stats", code: 200, contentType: "application/json", contains: `"step_seconds"`},
		{name: "cluster invalid doc", setup: func(f *fakeBackend) { f.clusterJS = json.RawMessage("{") }, method: "GET", path: "/cluster", code: 500, contains: "request_id"},
		{name: "preflist", method: "GET", path: "/cluster/preflist/b/a%2Fb", code: 200, contentType: "application/json", contains: `"key":"a/b"`},
		{name: "preflist empty key", method: "GET", path: "/cluster/preflist/b/", code: 400},
		{name: "ping", method: "GET", path: "/ping", code: 200, contentType: "text/plain", contains: "OK"},
		{name: "ready", method: "GET", path: "/ready", code: 200, contains: "OK"},
		{name: "not ready", setup: func(f *fakeBackend) { f.notReady = errors.New("storage closed") }, method: "GET", path: "/ready", code: 503, contentType: "application/json", contains: "storage closed"},
		{name: "metrics moved to the admin listener", method: "GET", path: "/metrics", code: 404, contentType: "application/json"},
		{name: "pprof off", method: "GET", path: "/debug/pprof/", code: 404, contentType: "application/json"},
		{name: "unknown route", method: "GET", path: "/nope", code: 404, contentType: "application/json", contains: `"not found"`},
		{name: "too many segments", method: "GET", path: "/kv/b/k/extra", code: 404, contentType: "application/json"},
		{name: "raw slash key", method: "GET", path: "/kv/b/a//b", code: 404, contentType: "application/json"},
		{name: "kv method", method: "PATCH", path: "/kv/b/k", code: 405, contentType: "application/json", contains: "method not allowed", allow: "GET, HEAD, PUT, DELETE"},
		{name: "bucket method", method: "PUT", path: "/kv/b", code: 405, allow: "GET, POST"},
		{name: "buckets method", method: "DELETE", path: "/buckets", code: 405, contentType: "application/json", allow: "GET"},
		{name: "empty key get", method: "GET", path: "/kv/b/", code: 400, contentType: "application/json", contains: "key must not be empty"},
		{name: "empty key put", method: "PUT", path: "/kv/b/", body: "x", code: 400, contains: "key must not be empty"},
		{name: "empty bucket", method: "GET", path: "/kv//k", code: 400, contains: "bucket must not be empty"},
		{name: "empty bucket post", method: "POST", path: "/kv/", body: "x", code: 400, contains: "bucket must not be empty"},
		{name: "empty bucket props", method: "GET", path: "/buckets//props", code: 400},
		{name: "sibling by id missing", method: "GET", path: "/kv/b/k?sibling=nope", code: 404, contains: "no sibling"},
		{name: "bad content type", method: "PUT", path: "/kv/b/k", body: "x", hdr: []string{"Content-Type", "text/"}, code: 415, contentType: "application/json"},
		{name: "two content types", method: "PUT", path: "/kv/b/k", body: "x", hdr: []string{"Content-Type", "text/plain", "Content-Type", "text/html"}, code: 415},
		{name: "bad context", method: "PUT", path: "/kv/b/k", body: "x", hdr: []string{hdrContext, "%%%"}, code: 400, contains: "bad context"},
		{name: "two contexts", method: "PUT", path: "/kv/b/k", body: "x", hdr: []string{hdrContext, "AA", hdrContext, "AA"}, code: 400, contains: hdrContext},
		{name: "bad context delete", method: "DELETE", path: "/kv/b/k", hdr: []string{hdrContext, "!"}, code: 400},
		{name: "unavailable", setup: func(f *fakeBackend) { f.failWith = &quorum.UnavailableError{Op: "get", Want: 2, Got: 1} }, method: "GET", path: "/kv/b/k", code: 503, contains: `"want":2`},
		{name: "buckets unavailable", setup: func(f *fakeBackend) { f.failWith = &quorum.UnavailableError{Op: "list"} }, method: "GET", path: "/buckets", code: 503},
		{name: "buckets bad timeout", method: "GET", path: "/buckets?timeout=x", code: 400, contains: "timeout"},
		{name: "cluster timeout", setup: func(f *fakeBackend) { f.failWith = context.DeadlineExceeded }, method: "GET", path: "/cluster?timeout=100", code: 503, contains: "timeout"},
		{name: "cluster bad timeout", method: "GET", path: "/cluster?timeout=0", code: 400, contains: "timeout"},
		{name: "props delete empty bucket", method: "DELETE", path: "/buckets//props", code: 400},
		{name: "delete empty key", method: "DELETE", path: "/kv/b/", code: 400},
		{name: "preflist empty bucket", method: "GET", path: "/cluster/preflist//k", code: 400},
		{name: "backend bad request", setup: func(f *fakeBackend) { f.failWith = quorum.ErrBadRequest }, method: "PUT", path: "/kv/b/k", code: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.do("PUT", "/kv/b/k", []byte("hello"), "Content-Type", "text/plain").want(t, 204)
			e.do("PUT", "/kv/b/gone", []byte("x")).want(t, 204)
			ctx := e.do("GET", "/kv/b/gone", nil).want(t, 200).header.Get(hdrContext)
			e.do("DELETE", "/kv/b/gone", nil, hdrContext, ctx).want(t, 204)
			if tc.setup != nil {
				e.f.set(tc.setup)
			}
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			r := e.do(tc.method, tc.path, body, tc.hdr...)
			if r.code != tc.code {
				t.Fatalf("%s %s = %d, want %d; body %q", tc.method, tc.path, r.code, tc.code, r.body)
			}
			if ct := r.header.Get("Content-Type"); tc.contentType != "" && !strings.HasPrefix(ct, tc.contentType) {
				t.Errorf("Content-Type = %q, want %q", ct, tc.contentType)
			}
			if !contains(r.String(), tc.contains) {
				t.Errorf("body %q does not contain %q", r.body, tc.contains)
			}
			if r.code >= 400 && tc.method != "HEAD" {
				r.errorBody(t)
			}
			if tc.code == 405 && r.header.Get("Allow") != tc.allow {
				t.Errorf("Allow = %q, want %q", r.header.Get("Allow"), tc.allow)
			}
			if r.header.Get("Dynamod-Request-Id") == "" {
				t.Error("no Dynamod-Request-Id")
			}
		})
	}
}

// TestParams checks every query parameter: invalid values are 400 naming
// the parameter and never reach the backend; valid ones reach it as parsed.
func TestParams(t *testing.T) {
	e := newEnv(t)
	e.do("PUT", "/buckets/small/props", []byte(`{"n_val":2,"r":1,"w":1}`), "Content-Type", "application/json").want(t, 204)
	e.do("PUT", "/kv/small/k", []byte("v")).want(t, 204)
	e.do("PUT", "/kv/b/k", []byte("v")).want(t, 204)

	for _, tc := range []struct {
		method, path, param string
	}{
		{"GET", "/kv/b/k?r=99", "r"},
		{"GET", "/kv/b/k?r=4", "r"},
		{"GET", "/kv/small/k?r=3", "r"}, // this bucket's n_val is 2
		{"GET", "/kv/small/k?pr=all&r=all&pr=3", "pr"},
		{"GET", "/kv/b/k?r=0", "r"},
		{"GET", "/kv/b/k?r=-1", "r"},
		{"GET", "/kv/b/k?r=banana", "r"},
		{"GET", "/kv/b/k?r=1&r=2", "r"},
		{"GET", "/kv/b/k?pr=4", "pr"},
		{"GET", "/kv/b/k?pr=1.5", "pr"},
		{"GET", "/kv/b/k?notfound_ok=yes", "notfound_ok"},
		{"GET", "/kv/b/k?timeout=-1", "timeout"},
		{"GET", "/kv/b/k?timeout=0", "timeout"},
		{"GET", "/kv/b/k?timeout=1e3", "timeout"},
		{"GET", "/kv/b/k?timeout=600001", "timeout"},
		{"GET", "/kv/b/k?timeout=99999999999999999999", "timeout"},
		{"GET", "/kv/b/k?sibling=a&sibling=b", "sibling"},
		{"PUT", "/kv/b/k?w=banana", "w"},
		{"PUT", "/kv/b/k?w=0", "w"},
		{"PUT", "/kv/b/k?w=4", "w"},
		{"PUT", "/kv/small/k?w=all&dw=3", "dw"},
		{"PUT", "/kv/b/k?pw=99", "pw"},
		{"PUT", "/kv/b/k?dw=x", "dw"},
		{"PUT", "/kv/b/k?returnbody=1", "returnbody"},
		{"PUT", "/kv/b/k?timeout=", "timeout"},
		{"POST", "/kv/b?w=99", "w"},
		{"POST", "/kv/b?returnbody=maybe", "returnbody"},
		{"DELETE", "/kv/b/k?w=banana", "w"},
		{"DELETE", "/kv/b/k?dw=4", "dw"},
		{"DELETE", "/kv/b/k?timeout=-5", "timeout"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			calls, writes := e.f.calls.Load(), e.f.writes.Load()
			r := e.do(tc.method, tc.path, []byte("changed")).want(t, 400)
			m := r.errorBody(t)
			d, _ := m["detail"].(map[string]any)
			if m["error"] != "bad parameter" || d["parameter"] != tc.param || d["reason"] == "" {
				t.Fatalf("body %s, want bad parameter %q with a reason", r.body, tc.param)
			}
			if e.f.calls.Load() != calls || e.f.writes.Load() != writes {
				t.Fatal("the backend was called")
			}
		})
	}
	if got := e.do("GET", "/kv/b/k", nil).want(t, 200).String(); got != "v" {
		t.Fatalf("value changed by rejected requests: %q", got)
	}

	t.Run("valid reach the backend", func(t *testing.T) {
		no := false
		e.do("GET", "/kv/b/k?r=one&pr=0&notfound_ok=false&timeout=1500&unknown=1&w=banana", nil).want(t, 200)
		e.f.mu.Lock()
		ro := e.f.lastRead
		e.f.mu.Unlock()
		if ro.R != quorum.One || ro.PR.String() != "0" || ro.NotFoundOK == nil || *ro.NotFoundOK != no || ro.Timeout != 1500*time.Millisecond {
			t.Errorf("read options = %+v", ro)
		}
		e.do("GET", "/kv/b/k?r=default&notfound_ok=TRUE", nil).want(t, 200)
		e.f.mu.Lock()
		ro = e.f.lastRead
		e.f.mu.Unlock()
		if ro.R != quorum.Default || ro.NotFoundOK == nil || !*ro.NotFoundOK || ro.Timeout != 0 {
			t.Errorf("read options = %+v", ro)
		}
		e.do("GET", "/kv/b/k?r=ALL", nil).want(t, 200)
		e.do("PUT", "/kv/b/k?w=quorum&pw=1&dw=all&timeout=600000&r=one", []byte("v2")).want(t, 204)
		e.do("PUT", "/kv/b/k?r=banana", []byte("v3")).want(t, 400)
		e.do("PUT", "/kv/b/k?r=99", []byte("v3")).want(t, 400)
		e.f.mu.Lock()
		wo := e.f.lastWrite
		e.f.mu.Unlock()
		if wo.W != quorum.Majority || wo.PW != 1 || wo.DW != quorum.All || wo.Timeout != 10*time.Minute {
			t.Errorf("write options = %+v", wo)
		}
		e.do("PUT", "/kv/small/k?w=2&dw=2", []byte("v2")).want(t, 204)
	})
}

// TestKeyEncoding checks that buckets and keys with any bytes round-trip
// through percent-encoding, with no cleaning and no redirect.
func TestKeyEncoding(t *testing.T) {
	e := newEnv(t)
	names := []string{"a//b", "../x", "..", ".", "sp ace", "ü", "%2F", "a/b/", "/", "?q=1#f", "+plus", "tab\tnl\n", "\xff\x00"}
	var pairs [][2]string
	for i, bucket := range append(names, "plain") {
		key := names[len(names)-1-i%len(names)]
		pairs = append(pairs, [2]string{bucket, key})
		path := "/kv/" + url.PathEscape(bucket) + "/" + url.PathEscape(key)
		t.Run(strconv.Quote(bucket)+"/"+strconv.Quote(key), func(t *testing.T) {
			val := "value of " + bucket + "/" + key
			e.do("PUT", path, []byte(val)).want(t, 204)
			if got := e.do("GET", path, nil).want(t, 200).String(); got != val {
				t.Fatalf("GET = %q, want %q", got, val)
			}
			var keys keysDoc
			r := e.do("GET", "/kv/"+url.PathEscape(bucket)+"?keys=true", nil).want(t, 200)
			if err := json.Unmarshal(r.body, &keys); err != nil {
				t.Fatal(err)
			}
			if want := strings.ToValidUTF8(key, "\uFFFD"); !slices.Contains(keys.Keys, want) {
				t.Fatalf("listing %q lacks %q", keys.Keys, want)
			}
			pf := e.do("GET", "/cluster/preflist/"+url.PathEscape(bucket)+"/"+url.PathEscape(key), nil).want(t, 200)
			var doc struct{ Bucket, Key string }
			if err := json.Unmarshal(pf.body, &doc); err != nil || doc.Bucket != strings.ToValidUTF8(bucket, "\uFFFD") || doc.Key != strings.ToValidUTF8(key, "\uFFFD") {
				t.Fatalf("preflist = %s (%v)", pf.body, err)
			}
			e.do("PUT", "/buckets/"+url.PathEscape(bucket)+"/props", []byte(`{"n_val":1}`), "Content-Type", "application/json").want(t, 204)

			// POST: the Location names the new key in the same bucket.
			p := e.do("POST", "/kv/"+url.PathEscape(bucket), []byte("posted")).want(t, 201)
			loc := p.header.Get("Location")
			if !strings.HasPrefix(loc, "/kv/"+url.PathEscape(bucket)+"/") {
				t.Fatalf("Location = %q", loc)
			}
			newKey := strings.TrimPrefix(loc, "/kv/"+url.PathEscape(bucket)+"/")
			if newKey == "" || url.PathEscape(newKey) != newKey {
				t.Fatalf("generated key %q is not URL-safe", newKey)
			}
			if got := e.do("GET", loc, nil).want(t, 200).String(); got != "posted" {
				t.Fatalf("GET Location = %q", got)
			}
		})
	}
	r := e.do("GET", "/buckets", nil).want(t, 200)
	var doc struct{ Buckets []string }
	if err := json.Unmarshal(r.body, &doc); err != nil || !slices.Contains(doc.Buckets, "a//b") || !slices.Contains(doc.Buckets, "%2F") {
		t.Fatalf("buckets = %s (%v)", r.body, err)
	}
	// The backend saw exactly the decoded names.
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	for _, p := range pairs {
		if _, ok := e.f.objects[p[0]][p[1]]; !ok {
			t.Errorf("backend has no %q/%q", p[0], p[1])
		}
	}
}

// TestMetadata checks that Dynamod-Meta-* headers are stored, echoed on a
// value, in multipart parts and in JSON siblings, and bounded.
func TestMetadata(t *testing.T) {
	e := newEnv(t)
	e.do("PUT", "/kv/b/k", []byte("v"), "Dynamod-Meta-Color", "red", "dynamod-meta-Owner-ID", "ann",
		"Dynamod-Meta-List", "a", "Dynamod-Meta-List", "b", "Content-Type", "Text/Plain; Charset=UTF-8").want(t, 204)
	r := e.do("GET", "/kv/b/k", nil).want(t, 200)
	for h, want := range map[string]string{"Dynamod-Meta-Color": "red", "Dynamod-Meta-Owner-Id": "ann",
		"Dynamod-Meta-List": "a, b", "Content-Type": "text/plain; charset=UTF-8"} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	e.f.mu.Lock()
	c := e.f.objects["b"]["k"]
	e.f.mu.Unlock()
	meta := versioning.Values(c)[0].Meta
	if len(meta) != 3 || meta["owner-id"] != "ann" || meta["color"] != "red" {
		t.Errorf("stored meta = %v, want lower-case names", meta)
	}

	// A sibling: multipart parts and JSON carry each value's metadata.
	e.do("PUT", "/kv/b/k", []byte("w"), "Dynamod-Meta-Color", "blue").want(t, 204)
	r = e.do("GET", "/kv/b/k", nil).want(t, 300)
	got := map[string]string{}
	for _, p := range multipartSiblings(t, r) {
		got[p.value] = p.header.Get("Dynamod-Meta-Color")
	}
	if got["v"] != "red" || got["w"] != "blue" {
		t.Errorf("multipart meta = %v", got)
	}
	doc := jsonSiblings(t, e.do("GET", "/kv/b/k", nil, "Accept", "application/json").want(t, 300))
	for _, s := range doc.Siblings {
		if want := map[string]string{"v": "red", "w": "blue"}[string(s.Value)]; s.Meta["color"] != want {
			t.Errorf("JSON sibling %q meta = %v", s.Value, s.Meta)
		}
	}

	t.Run("limits", func(t *testing.T) {
		many := []string{}
		for i := range maxMetaCount + 1 {
			many = append(many, "Dynamod-Meta-M"+strconv.Itoa(i), "x")
		}
		for name, hdr := range map[string][]string{
			"too many":      many,
			"too big":       {"Dynamod-Meta-Big", strings.Repeat("x", maxMetaBytes)},
			"long name":     {"Dynamod-Meta-" + strings.Repeat("n", maxMetaNameBytes+1), "x"},
			"empty name":    {"Dynamod-Meta-", "x"},
			"control chars": {"Dynamod-Meta-Ctl", "a\x01b"},
		} {
			t.Run(name, func(t *testing.T) {
				req := mustRequest(t, "PUT", "/kv/b/limits", "v")
				for i := 0; i+1 < len(hdr); i += 2 {
					req.Header[hdr[i]] = append(req.Header[hdr[i]], hdr[i+1])
				}
				writes := e.f.writes.Load()
				rec := serve(e.h, req)
				if rec.code != 400 || !contains(rec.String(), "bad header") {
					t.Fatalf("= %d %q, want 400 bad header", rec.code, rec.body)
				}
				if e.f.writes.Load() != writes {
					t.Fatal("a rejected write was stored")
				}
			})
		}
		// Exactly at the limits is fine.
		req := mustRequest(t, "PUT", "/kv/b/limits", "v")
		for i := range maxMetaCount {
			req.Header.Set("Dynamod-Meta-M"+strconv.Itoa(i), "x")
		}
		if rec := serve(e.h, req); rec.code != 204 {
			t.Fatalf("%d meta headers = %d %q, want 204", maxMetaCount, rec.code, rec.body)
		}
	})
}

// TestSiblings checks both 300 forms, ?sibling=ID and a tombstone sibling.
func TestSiblings(t *testing.T) {
	e := newEnv(t)
	e.do("PUT", "/kv/b/k", []byte("one"), "Content-Type", "text/plain").want(t, 204)
	e.do("PUT", "/kv/b/k", []byte(`{"n":2}`), "Content-Type", "application/json").want(t, 204)
	e.do("DELETE", "/kv/b/k", nil).want(t, 204) // blind: a tombstone sibling

	r := e.do("GET", "/kv/b/k", nil).want(t, 300)
	if r.header.Get(hdrContext) == "" {
		t.Fatal("300 without context")
	}
	parts := multipartSiblings(t, r)
	if len(parts) != 3 {
		t.Fatalf("%d parts, want 3", len(parts))
	}
	byValue := map[string]nethttp.Header{}
	for _, p := range parts {
		byValue[p.value] = p.header
		if _, err := time.Parse(nethttp.TimeFormat, p.header.Get("Last-Modified")); err != nil {
			t.Errorf("part %q Last-Modified %q: %v", p.value, p.header.Get("Last-Modified"), err)
		}
		if _, err := strconv.Unquote(p.header.Get("Etag")); err != nil {
			t.Errorf("part %q ETag %q not quoted", p.value, p.header.Get("Etag"))
		}
	}
	if byValue["one"].Get("Content-Type") != "text/plain" || byValue[`{"n":2}`].Get("Content-Type") != "application/json" {
		t.Errorf("part types: %v", byValue)
	}
	if byValue[""].Get(hdrDeleted) != "true" || byValue["one"].Get(hdrDeleted) != "" {
		t.Errorf("deleted flags: tombstone %q, value %q", byValue[""].Get(hdrDeleted), byValue["one"].Get(hdrDeleted))
	}

	for _, accept := range []string{"application/json", "multipart/mixed;q=0.5, application/json", "text/html, application/*;q=0.9"} {
		doc := jsonSiblings(t, e.do("GET", "/kv/b/k", nil, "Accept", accept).want(t, 300))
		if doc.Context != r.header.Get(hdrContext) || len(doc.Siblings) != 3 {
			t.Fatalf("Accept %q: JSON doc %+v", accept, doc)
		}
		deleted := 0
		for _, s := range doc.Siblings {
			if s.Deleted {
				deleted++
			}
			if _, err := time.Parse(time.RFC3339Nano, s.LastModified); err != nil {
				t.Errorf("last_modified %q: %v", s.LastModified, err)
			}
			if strconv.Quote(s.ID) != byValue[string(s.Value)].Get("Etag") {
				t.Errorf("JSON id %q, multipart ETag %q", s.ID, byValue[string(s.Value)].Get("Etag"))
			}
			// ?sibling=ID returns exactly that sibling as a 200.
			one := e.do("GET", "/kv/b/k?sibling="+url.QueryEscape(s.ID), nil).want(t, 200)
			if one.String() != string(s.Value) || one.header.Get("Etag") != strconv.Quote(s.ID) ||
				(one.header.Get(hdrDeleted) == "true") != s.Deleted || one.header.Get(hdrContext) != doc.Context {
				t.Errorf("?sibling=%s = %q %v", s.ID, one.body, one.header)
			}
		}
		if deleted != 1 {
			t.Errorf("%d deleted siblings, want 1", deleted)
		}
	}
	for _, accept := range []string{"*/*", "multipart/mixed", "application/json;q=0, */*", "application/json, multipart/mixed", "text/html"} {
		r := e.do("GET", "/kv/b/k", nil, "Accept", accept).want(t, 300)
		if !strings.HasPrefix(r.header.Get("Content-Type"), "multipart/mixed") {
			t.Errorf("Accept %q gave %q, want multipart", accept, r.header.Get("Content-Type"))
		}
	}
	// A single value ignores Accept: the document is the value.
	e.do("PUT", "/kv/b/doc", []byte(`[1]`), "Content-Type", "application/json").want(t, 204)
	if r := e.do("GET", "/kv/b/doc", nil, "Accept", "application/json").want(t, 200); r.String() != `[1]` {
		t.Errorf("single JSON value = %q", r.body)
	}
}

// TestReturnBody checks that a PUT with returnbody answers as a GET would.
func TestReturnBody(t *testing.T) {
	e := newEnv(t)
	r := e.do("PUT", "/kv/b/k?returnbody=true", []byte("v1"), "Content-Type", "text/plain", "Dynamod-Meta-A", "1").want(t, 200)
	g := e.do("GET", "/kv/b/k", nil).want(t, 200)
	for _, h := range []string{hdrContext, "Etag", "Content-Type", "Last-Modified", "Dynamod-Meta-A"} {
		if r.header.Get(h) == "" || r.header.Get(h) != g.header.Get(h) {
			t.Errorf("%s: returnbody %q, GET %q", h, r.header.Get(h), g.header.Get(h))
		}
	}
	if r.String() != "v1" {
		t.Errorf("returnbody body = %q", r.body)
	}
	// Writing with that context leaves one value.
	r = e.do("PUT", "/kv/b/k?returnbody=true", []byte("v2"), hdrContext, r.header.Get(hdrContext)).want(t, 200)
	if r.String() != "v2" {
		t.Errorf("second returnbody = %q", r.body)
	}
	r = e.do("PUT", "/kv/b/k?returnbody=true", []byte("v3"), "Accept", "application/json").want(t, 300)
	if doc := jsonSiblings(t, r); len(doc.Siblings) != 2 || doc.Context != r.header.Get(hdrContext) {
		t.Errorf("blind returnbody = %+v", doc)
	}
}

// mustRequest builds a server-side request for the handler directly.
func mustRequest(t testing.TB, method, path, body string) *nethttp.Request {
	t.Helper()
	req, err := nethttp.NewRequest(method, "http://dynamod"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}
