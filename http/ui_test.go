package http

import (
	nethttp "net/http"
	"strings"
	"testing"
)

// stubUI stands in for package ui's handler: it echoes the path it got.
var stubUI = nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ui " + r.URL.Path))
})

// TestUI_mount: with Config.UI set, /ui and everything under /ui/ reach it
// with GET and HEAD and no token, even where every other route wants one;
// other methods are 405 (to a token that may see that), and /uix is no
// route (behind the default deny). Without Config.UI nothing is served
// there.
func TestUI_mount(t *testing.T) {
	ft := newFakeTokens()
	e := newEnv(t, func(c *Config) { c.ClientAuth, c.Tokens, c.UI = AuthOn, ft, stubUI })
	for _, path := range []string{"/ui", "/ui/", "/ui/app.js", "/ui/a%2Fb"} {
		r := e.do("GET", path, nil).want(t, 200)
		if !strings.HasPrefix(r.String(), "ui /ui") {
			t.Errorf("GET %s answered %q", path, r.body)
		}
		e.do("HEAD", path, nil).want(t, 200)
	}
	// A wrong method is "unmatched", behind the default deny like any.
	e.do("POST", "/ui/", nil).want(t, 401)
	r := e.do("POST", "/ui/", nil, bearerHdr(ft.mint(t, "admin"))...).want(t, 405)
	if r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("Allow = %q", r.header.Get("Allow"))
	}
	e.do("GET", "/uix", nil).want(t, 401)
	e.do("GET", "/uix", nil, bearerHdr(ft.mint(t, "admin"))...).want(t, 404)
	// What the page then reads still needs its grant.
	e.do("GET", "/cluster", nil).want(t, 401)

	off := newEnv(t, func(c *Config) { c.ClientAuth, c.Tokens = AuthOn, ft })
	off.do("GET", "/ui/", nil).want(t, 401)
	off.do("GET", "/ui/", nil, bearerHdr(ft.mint(t, "admin"))...).want(t, 404)
}
