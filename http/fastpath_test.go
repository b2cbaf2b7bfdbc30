package http

import (
	"math/rand/v2"
	"mime"
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

// TestQuery_sameAsParseQuery: query.values answers as url.ParseQuery's
// map does (what r.URL.Query() gives), for queries of escapes,
// separators, semicolons and plus signs, short and over maxQuickPairs.
func TestQuery_sameAsParseQuery(t *testing.T) {
	queries := []string{
		"", "r=2", "w=2&r=1", "r=1&r=2", "r", "r=", "=2", "&&r=2&", "r=2;w=1", "w=1&r=2;x",
		"%72=3", "r%3D=4", "r=%zz", "r=%zz&r=5", "%zz=1&r=6", "r+=1", "r%20=1", "a+b=c+d",
		"sibling=%31", "ttl=1s&ttl=2s", "notfound_ok=true&notfound_ok=",
	}
	long := []byte("r=7")
	for range maxQuickPairs + 5 {
		long = append(long, "&x=1"...)
	}
	queries = append(queries, string(long), string(long)+"&r=8")
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = "rw=&;%+2Fz1 "
	for range 5000 {
		var b []byte
		for range rng.IntN(14) {
			b = append(b, alphabet[rng.IntN(len(alphabet))])
		}
		queries = append(queries, string(b))
	}
	names := []string{"r", "w", "r ", "", "x", "a b", "sibling", "ttl", "notfound_ok", "r=", "2"}
	for _, raw := range queries {
		m, _ := url.ParseQuery(raw)
		for _, name := range names {
			first, n := query(raw).values(name)
			want := m[name]
			if n != len(want) || (n > 0 && first != want[0]) {
				t.Fatalf("query %q, name %q: values gave %q, %d; ParseQuery %q", raw, name, first, n, want)
			}
		}
	}
}

// TestSimpleMediaType_sameAsMime: a Content-Type simpleMediaType takes
// as it is comes out of mime.ParseMediaType and mime.FormatMediaType
// unchanged, and parseContentType answers as before for every input.
func TestSimpleMediaType_sameAsMime(t *testing.T) {
	viaMime := func(s string) (string, bool) {
		mt, params, err := mime.ParseMediaType(s)
		if err != nil {
			return "", false
		}
		ct := mime.FormatMediaType(mt, params)
		return ct, ct != ""
	}
	cases := []string{
		"application/octet-stream", "text/plain", "application/json", "image/svg+xml",
		"Text/Plain", "text/plain; charset=utf-8", "text/plain;charset=UTF-8", "text", "text/",
		"/plain", "a/b/c", "a/b ", " a/b", "a{/b", "a/b}", "a/b;", "x-custom/y.z_1~!",
	}
	rng := rand.New(rand.NewPCG(5, 6))
	const alphabet = "ab/Z; =-+{}.\"\t1"
	const tokenish = "abz1-+.~Z"
	part := func() []byte {
		chars := alphabet
		if rng.IntN(2) == 0 {
			chars = tokenish
		}
		var b []byte
		for range rng.IntN(6) {
			b = append(b, chars[rng.IntN(len(chars))])
		}
		return b
	}
	for range 5000 {
		b := part()
		if rng.IntN(2) == 0 { // the shape of a media type, more often
			b = append(append(b, '/'), part()...)
		}
		cases = append(cases, string(b))
	}
	took := 0
	for _, s := range cases {
		want, ok := viaMime(s)
		if simpleMediaType(s) {
			took++
			if !ok || want != s {
				t.Fatalf("%q: simpleMediaType takes it as it is, mime gives %q (ok %v)", s, want, ok)
			}
		}
		got, err := parseContentType(nethttp.Header{"Content-Type": {s}})
		if (err == nil) != ok || got != want {
			t.Fatalf("%q: parseContentType %q, %v; mime %q, %v", s, got, err, want, ok)
		}
	}
	if took < 200 {
		t.Fatalf("only %d inputs took the simple path", took)
	}
}
