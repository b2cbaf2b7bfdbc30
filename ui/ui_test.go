package ui

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHandler_page: /ui/ is the rendered page, which loads its script
// and style sheet from the node (versioned URLs) and holds no inline
// script or style, as the CSP requires.
func TestHandler_page(t *testing.T) {
	h := Handler()
	r := get(t, h, "GET", "/ui/")
	if r.StatusCode != 200 {
		t.Fatalf("GET /ui/ = %d", r.StatusCode)
	}
	if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	page := body(t, r)
	for _, want := range []string{`<script src="app.js?v=`, `<link rel="stylesheet" href="style.css?v=`, `data-poll-ms="1000"`,
		`id="members"`, `id="ring"`, `data-props-error`, `id="pbs-chart"`, `id="find-form"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(page, "{{") {
		t.Error("page holds an unrendered template action")
	}
	// No inline script or style, and nothing loaded from elsewhere.
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]`).MatchString(page) {
		t.Error("page has an inline script")
	}
	if regexp.MustCompile(`<style|\sstyle=|\son[a-z]+=`).MatchString(page) {
		t.Error("page has inline style or an event handler attribute")
	}
	if regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(page) {
		t.Error("page loads something from another origin")
	}
	if r.Header.Get("ETag") == "" || r.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("ETag %q, Cache-Control %q", r.Header.Get("ETag"), r.Header.Get("Cache-Control"))
	}
}

// TestHandler_assets: each asset is served with its type; a request
// carrying the ETag gets 304; HEAD works.
func TestHandler_assets(t *testing.T) {
	h := Handler()
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/ui/app.js", "text/javascript; charset=utf-8", "'use strict'"},
		{"/ui/style.css", "text/css; charset=utf-8", "prefers-color-scheme"},
		{"/ui/favicon.svg", "image/svg+xml", "<svg"},
		{"/ui/app.js?v=whatever", "text/javascript; charset=utf-8", "'use strict'"},
	} {
		r := get(t, h, "GET", tc.path)
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != tc.ctype {
			t.Errorf("GET %s = %d %q, want 200 %q", tc.path, r.StatusCode, r.Header.Get("Content-Type"), tc.ctype)
			continue
		}
		if b := body(t, r); !strings.Contains(b, tc.contains) {
			t.Errorf("GET %s lacks %q", tc.path, tc.contains)
		}
		etag := r.Header.Get("ETag")
		if r := get(t, h, "GET", tc.path, "If-None-Match", etag); r.StatusCode != 304 {
			t.Errorf("GET %s with its ETag = %d, want 304", tc.path, r.StatusCode)
		}
		if r := get(t, h, "HEAD", tc.path); r.StatusCode != 200 || body(t, r) != "" {
			t.Errorf("HEAD %s = %d", tc.path, r.StatusCode)
		}
	}
}

// TestHandler_headers: every answer, errors and redirects included,
// carries the CSP and nosniff.
func TestHandler_headers(t *testing.T) {
	h := Handler()
	for _, path := range []string{"/ui/", "/ui/app.js", "/ui/nope.js", "/ui", "/ui/index.html"} {
		r := get(t, h, "GET", path)
		csp := r.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe") || strings.Contains(csp, "*") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q allows framing", path, csp)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", path)
		}
	}
}

// TestHandler_notFound: unknown files (the template itself among them,
// which only renders as /ui/), paths outside /ui/ and directory tricks are
// 404 with the client API's JSON error body.
func TestHandler_notFound(t *testing.T) {
	h := Handler()
	for _, path := range []string{"/ui/nope.js", "/ui/index.html", "/ui/assets/app.js", "/ui/../app.js", "/ui//app.js", "/uix", "/ui/app.js/"} {
		r := get(t, h, "GET", path)
		if r.StatusCode != 404 {
			t.Errorf("GET %s = %d, want 404", path, r.StatusCode)
			continue
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		var doc struct{ Error, Detail string }
		if err := json.Unmarshal([]byte(body(t, r)), &doc); err != nil || doc.Error != "not found" {
			t.Errorf("GET %s: body %+v, %v", path, doc, err)
		}
	}
}

// TestHandler_redirectAndMethods: /ui redirects to /ui/ (keeping the
// query); other methods than GET and HEAD are 405.
func TestHandler_redirectAndMethods(t *testing.T) {
	h := Handler()
	r := get(t, h, "GET", "/ui?x=1")
	if r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != "/ui/?x=1" {
		t.Errorf("GET /ui = %d Location %q", r.StatusCode, r.Header.Get("Location"))
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		r := get(t, h, m, "/ui/")
		if r.StatusCode != 405 || r.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /ui/ = %d Allow %q", m, r.StatusCode, r.Header.Get("Allow"))
		}
	}
}

// TestAssets_noMarkupFromData: the script never writes markup: no
// innerHTML, outerHTML, insertAdjacentHTML, document.write or eval, so
// server data reaches the page as text only.
func TestAssets_noMarkupFromData(t *testing.T) {
	b, err := assets.ReadFile("assets/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('style'"} {
		if strings.Contains(string(b), bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}
