package http

import (
	"math/rand/v2"
	nethttp "net/http"
	"net/url"
	"testing"

	"github.com/gorilla/mux"
)

// TestKVFastPath_sameAsRouter: withKVFastPath takes a request exactly
// when the router would route it to one of the object routes, with the
// same route variables.
func TestKVFastPath_sameAsRouter(t *testing.T) {
	a := &api{b: newFake(), cfg: Config{Tokens: newFakeTokens(), UI: stubUI}.withDefaults()}
	router := a.router()
	const object = "/kv/{bucket:[^/]*}/{key:[^/]*}"
	paths := []string{
		"/kv/b/k", "/kv/b/", "/kv//k", "/kv//", "/kv/b", "/kv/", "/kv", "/kv/b/k/", "/kv/b/k/x",
		"/kv/b%2Fc/k%2Fx", "/kv/b/%zz", "/kv/b/k%20y", "//kv/b/k", "/kv/b//k", "/KV/b/k",
		"/types/b/k", "/buckets/b/props", "/kvx/b/k", "/kv/b/k?x=1", "/kv/b/k#f", "/kv/b/k;p",
		"/ping", "/", "/kv/b/keys",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "/k%2Fv?#b"
	for range 2000 {
		b := []byte("/kv/")
		if rng.IntN(8) == 0 {
			b = []byte("/")
		}
		for range rng.IntN(8) {
			b = append(b, alphabet[rng.IntN(len(alphabet))])
		}
		paths = append(paths, string(b))
	}
	methods := []string{"GET", "HEAD", "PUT", "DELETE", "POST", "PATCH", "OPTIONS"}
	checked := 0
	for _, p := range paths {
		u, err := url.ParseRequestURI(p)
		if err != nil {
			continue // no client can send it
		}
		for _, m := range methods {
			req := &nethttp.Request{Method: m, URL: u, RequestURI: p, Header: nethttp.Header{}}
			var match mux.RouteMatch
			routed := router.Match(req, &match) && match.MatchErr == nil
			tpl := ""
			if routed {
				tpl, _ = match.Route.GetPathTemplate()
			}
			wantFast := routed && tpl == object
			bucket, key, fast := kvObjectPath(u.EscapedPath())
			fast = fast && (m == "GET" || m == "HEAD" || m == "PUT" || m == "DELETE")
			if fast != wantFast {
				t.Errorf("%s %q: fast path %v, router to the object route %v (%q)", m, p, fast, wantFast, tpl)
				continue
			}
			if fast && (bucket != match.Vars["bucket"] || key != match.Vars["key"]) {
				t.Errorf("%s %q: fast path bucket %q key %q, router %q %q", m, p, bucket, key, match.Vars["bucket"], match.Vars["key"])
			}
			checked++
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d requests checked", checked)
	}
}
