package http

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/dynamod/dynamod/auth"
	"github.com/dynamod/dynamod/quorum"
)

// fakeTokens is an in-memory TokenStore.
type fakeTokens struct {
	mu  sync.Mutex
	all map[string]auth.Token
	set *auth.Set
}

var _ TokenStore = (*fakeTokens)(nil)

func newFakeTokens() *fakeTokens { return &fakeTokens{all: map[string]auth.Token{}} }

func (f *fakeTokens) Tokens() *auth.Set {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.set
}

func (f *fakeTokens) storeLocked(t auth.Token) {
	f.all[t.ID] = t
	ts := make([]auth.Token, 0, len(f.all))
	for _, t := range f.all {
		ts = append(ts, t)
	}
	f.set = auth.NewSet(ts)
}

func (f *fakeTokens) CreateToken(name string, grants []auth.Grant) (string, auth.Token, error) {
	text, t, err := auth.New(rand.Reader, name, grants, time.Now())
	if err != nil {
		return "", auth.Token{}, fmt.Errorf("%w: %w", quorum.ErrBadRequest, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.storeLocked(t)
	return text, t, nil
}

func (f *fakeTokens) ChangeGrants(id string, add, remove []auth.Grant) (auth.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.all[id]
	if !ok {
		return t, quorum.ErrNotFound
	}
	if t.Revoked {
		return t, ErrConflict
	}
	gs := slices.Clone(t.Grants)
	for _, g := range add {
		if !slices.Contains(gs, g) {
			gs = append(gs, g)
		}
	}
	gs = slices.DeleteFunc(gs, func(g auth.Grant) bool { return slices.Contains(remove, g) })
	t.Grants = gs
	f.storeLocked(t)
	return t, nil
}

func (f *fakeTokens) RevokeToken(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.all[id]
	if !ok {
		return quorum.ErrNotFound
	}
	t.Revoked = true
	f.storeLocked(t)
	return nil
}

// mint creates a token with grants directly in the store.
func (f *fakeTokens) mint(t *testing.T, grants ...string) string {
	t.Helper()
	gs, err := auth.ParseGrants(grants)
	if err != nil {
		t.Fatal(err)
	}
	text, _, err := f.CreateToken("t", gs)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func authEnv(t *testing.T, mode ClientAuth) (*env, *fakeTokens) {
	t.Helper()
	ft := newFakeTokens()
	e := newEnv(t, func(c *Config) { c.ClientAuth, c.Tokens, c.UI = mode, ft, stubUI })
	return e, ft
}

func bearerHdr(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// authCase is one request and the grant it needs ("" = open).
type authCase struct {
	method, path, body, ctype string
	need                      string
}

// authCases cover every route of the client API; TestAuth_everyRouteCovered
// fails when a route is added without a case here.
var authCases = []authCase{
	{"GET", "/kv/b/k", "", "", "read:b"},
	{"HEAD", "/kv/b/k", "", "", "read:b"},
	{"PUT", "/kv/b/k", "v", "text/plain", "write:b"},
	{"DELETE", "/kv/b/k", "", "", "write:b"},
	{"GET", "/kv/b?keys=true", "", "", "read:b"},
	{"POST", "/kv/b", "v", "text/plain", "write:b"},
	{"GET", "/types/b/k", "", "", "read:b"},
	{"POST", "/types/b/k", `{"increment":1}`, "application/json", "write:b"},
	{"GET", "/buckets", "", "", "admin"},
	{"GET", "/buckets/b/props", "", "", "read:b"},
	{"PUT", "/buckets/b/props", `{"n_val":2}`, "application/json", "admin:b"},
	{"DELETE", "/buckets/b/props", "", "", "admin:b"},
	{"GET", "/cluster", "", "", "admin"},
	{"GET", "/cluster/stats", "", "", "admin"},
	{"GET", "/cluster/preflist/b/k", "", "", "admin"},
	{"GET", "/cluster/pbs?bucket=b", "", "", "admin"},
	{"GET", "/admin/find/siblings", "", "", "admin"},
	{"POST", "/admin/leave", "", "", "admin"},
	{"POST", "/admin/remove/n9", "", "", "admin"},
	{"POST", "/admin/tokens", `{"name":"x","grants":[]}`, "application/json", "admin"},
	{"GET", "/admin/tokens", "", "", "admin"},
	{"POST", "/admin/tokens/0123456789abcdef01234567/grants", `{"grants":["read:b"]}`, "application/json", "admin"},
	{"DELETE", "/admin/tokens/0123456789abcdef01234567/grants", `{"grants":["read:b"]}`, "application/json", "admin"},
	{"DELETE", "/admin/tokens/0123456789abcdef01234567", "", "", "admin"},
	{"GET", "/admin/gossip-keys", "", "", "admin"},
	{"POST", "/admin/gossip-keys", `{"key":"MDEyMzQ1Njc4OWFiY2RlZg=="}`, "application/json", "admin"},
	{"PUT", "/admin/gossip-keys/primary", `{"key":"MDEyMzQ1Njc4OWFiY2RlZg=="}`, "application/json", "admin"},
	{"DELETE", "/admin/gossip-keys", `{"key":"MDEyMzQ1Njc4OWFiY2RlZg=="}`, "application/json", "admin"},
	{"GET", "/ping", "", "", ""},
	{"HEAD", "/ping", "", "", ""},
	{"GET", "/ready", "", "", ""},
	{"HEAD", "/ready", "", "", ""},
	{"GET", "/ui/", "", "", ""},
	{"HEAD", "/ui/app.js", "", "", ""},
}

// weaker lists grants just short of need: each must be refused.
func weaker(need string) []string {
	switch {
	case need == "admin":
		return []string{"admin:*", "read:*", "write:*"}
	case strings.HasPrefix(need, "read:"):
		return []string{"write:b", "read:other", "admin:other"}
	case strings.HasPrefix(need, "write:"):
		return []string{"read:b", "write:other", "admin:other"}
	case strings.HasPrefix(need, "admin:"):
		return []string{"read:b", "write:b", "read:*", "write:*", "admin:other"}
	}
	return nil
}

// TestAuth_routeGrants: every route needs exactly its grant. A token with
// it (or with a grant that implies it) passes; one with a weaker or
// other-bucket grant gets 403; no token, a malformed one and an unknown one
// get 401. Routes marked open answer without a token.
func TestAuth_routeGrants(t *testing.T) {
	e, ft := authEnv(t, AuthOn)
	unknown, _, _ := auth.New(rand.Reader, "x", nil, time.Now()) // never stored
	for _, c := range authCases {
		name := c.method + " " + c.path
		send := func(hdr ...string) resp {
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
				hdr = append(hdr, "Content-Type", c.ctype)
			}
			return e.do(c.method, c.path, body, hdr...)
		}
		if c.need == "" {
			if r := send(); r.code == 401 || r.code == 403 {
				t.Errorf("%s: open route answered %d without a token", name, r.code)
			}
			continue
		}
		for _, hdr := range [][]string{nil, bearerHdr("garbage"), bearerHdr(unknown), {"Authorization", "Basic dXNlcjpwdw=="}} {
			r := send(hdr...)
			if r.code != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s with %v: %d (WWW-Authenticate %q), want 401", name, hdr, r.code, r.header.Get("WWW-Authenticate"))
			}
		}
		for _, g := range weaker(c.need) {
			if r := send(bearerHdr(ft.mint(t, g))...); r.code != 403 {
				t.Errorf("%s with %s: %d, want 403", name, g, r.code)
			}
		}
		grants := []string{c.need, "admin"}
		if strings.Contains(c.need, ":") {
			perm, _, _ := strings.Cut(c.need, ":")
			grants = append(grants, perm+":*", "admin:b")
		}
		for _, g := range grants {
			if r := send(bearerHdr(ft.mint(t, g))...); r.code == 401 || r.code == 403 {
				t.Errorf("%s with %s: %d %s, want it allowed", name, g, r.code, r.body)
			}
		}
	}
}

// TestAuth_everyRouteCovered: every route the router serves has a case in
// authCases, so that a new route cannot skip TestAuth_routeGrants.
func TestAuth_everyRouteCovered(t *testing.T) {
	a := &api{b: newFake(), cfg: Config{Tokens: newFakeTokens(), UI: stubUI}.withDefaults()}
	covered := map[string]bool{}
	for _, c := range authCases {
		req := mustRequest(t, c.method, c.path, c.body)
		var m mux.RouteMatch
		if !a.router().Match(req, &m) || m.MatchErr != nil {
			t.Errorf("case %s %s matches no route", c.method, c.path)
			continue
		}
		tpl, _ := m.Route.GetPathTemplate()
		covered[c.method+" "+tpl] = true
	}
	n := 0
	err := a.router().Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			t.Errorf("route %s takes any method; give it methods and a case", tpl)
			return nil
		}
		for _, m := range methods {
			n++
			if !covered[m+" "+tpl] {
				t.Errorf("route %s %s has no case in authCases", m, tpl)
			}
		}
		return nil
	})
	if err != nil || n < len(authCases)-2 {
		t.Fatalf("walked %d routes: %v", n, err)
	}
}

// TestAuth_defaultDeny: a path no route serves needs cluster admin, so
// that nobody without it learns which paths exist.
func TestAuth_defaultDeny(t *testing.T) {
	e, ft := authEnv(t, AuthOn)
	e.do("GET", "/no/such/route", nil).want(t, 401)
	e.do("GET", "/no/such/route", nil, bearerHdr(ft.mint(t, "admin:*"))...).want(t, 403)
	e.do("GET", "/no/such/route", nil, bearerHdr(ft.mint(t, "admin"))...).want(t, 404)
	e.do("PATCH", "/kv/b/k", nil, bearerHdr(ft.mint(t, "admin:*"))...).want(t, 403)
	e.do("PATCH", "/kv/b/k", nil, bearerHdr(ft.mint(t, "admin"))...).want(t, 405)
	// Unmatched routes are denied by the table itself, not by a route list.
	if g := need("some_new_route", nil, mustRequest(t, "GET", "/x", "")); g != auth.ClusterAdmin {
		t.Errorf("need(unknown route) = %v, want cluster admin", g)
	}
}

// TestAuth_bodies: 401 and 403 answer JSON error bodies; 401 carries the
// Bearer challenge.
func TestAuth_bodies(t *testing.T) {
	e, ft := authEnv(t, AuthOn)
	r := e.do("GET", "/kv/b/k", nil).want(t, 401)
	if body := r.errorBody(t); body["error"] != "unauthorized" || !contains(fmt.Sprint(body["detail"]), "Bearer") {
		t.Errorf("401 body %s", r.body)
	}
	if h := r.header.Get("WWW-Authenticate"); h != `Bearer realm="dynamod"` {
		t.Errorf("WWW-Authenticate = %q", h)
	}
	r = e.do("GET", "/kv/b/k", nil, bearerHdr("dmd_nope")...).want(t, 401)
	if h := r.header.Get("WWW-Authenticate"); !contains(h, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate for a bad token = %q", h)
	}
	r = e.do("PUT", "/kv/b/k", []byte("v"), bearerHdr(ft.mint(t, "read:b"))...).want(t, 403)
	if body := r.errorBody(t); body["error"] != "forbidden" || !contains(fmt.Sprint(body["detail"]), "write:b") {
		t.Errorf("403 body %s", r.body)
	}
	if r.header.Get("WWW-Authenticate") != "" {
		t.Error("403 carries a challenge")
	}
	// Two Authorization headers are refused, whatever they hold.
	admin := ft.mint(t, "admin")
	e.do("GET", "/kv/b/k", nil, "Authorization", "Bearer "+admin, "Authorization", "Bearer "+admin).want(t, 401)
	// The scheme is case-insensitive.
	e.do("GET", "/kv/b/k", nil, "Authorization", "bearer "+admin).want(t, 404)
}

// TestAuth_forbiddenChangesNothing: a refused write, delete or props
// change never reaches the backend.
func TestAuth_forbiddenChangesNothing(t *testing.T) {
	e, ft := authEnv(t, AuthOn)
	writer, reader := ft.mint(t, "write:b"), ft.mint(t, "read:b")
	e.do("PUT", "/kv/b/k", []byte("v1"), bearerHdr(writer)...).want(t, 204)
	writes := e.f.writes.Load()
	calls := e.f.calls.Load()
	e.do("PUT", "/kv/b/k", []byte("v2"), bearerHdr(reader)...).want(t, 403)
	e.do("DELETE", "/kv/b/k", nil, bearerHdr(reader)...).want(t, 403)
	e.do("POST", "/kv/b", []byte("v3"), bearerHdr(reader)...).want(t, 403)
	e.do("PUT", "/buckets/b/props", []byte(`{"n_val":1}`), append(bearerHdr(writer), "Content-Type", "application/json")...).want(t, 403)
	e.do("DELETE", "/buckets/b/props", nil, bearerHdr(writer)...).want(t, 403)
	if e.f.writes.Load() != writes || e.f.calls.Load() != calls {
		t.Errorf("refused requests reached the backend: writes %d → %d, calls %d → %d", writes, e.f.writes.Load(), calls, e.f.calls.Load())
	}
	if p := e.f.BucketProps("b"); p.NVal != quorum.DefaultProps().NVal {
		t.Errorf("a refused props PUT changed n_val to %d", p.NVal)
	}
	r := e.do("GET", "/kv/b/k", nil, bearerHdr(reader)...).want(t, 200)
	if r.String() != "v1" {
		t.Errorf("value after refused writes = %q, want v1", r.body)
	}
}

// TestAuth_modes: off checks nothing; on refuses without tokens even when
// none exist; auto is open until a token exists, then required, and open
// again once every token is revoked.
func TestAuth_modes(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		e, ft := authEnv(t, AuthOff)
		ft.mint(t, "admin")
		e.do("PUT", "/kv/b/k", []byte("v"), nil...).want(t, 204)
		e.do("GET", "/cluster", nil).want(t, 200)
		e.do("GET", "/kv/b/k", nil, bearerHdr("garbage")...).want(t, 200)
	})
	t.Run("zero is off", func(t *testing.T) {
		e := newEnv(t)
		e.do("GET", "/cluster", nil).want(t, 200)
	})
	t.Run("on", func(t *testing.T) {
		e, _ := authEnv(t, AuthOn)
		e.do("GET", "/kv/b/k", nil).want(t, 401)
		e.do("GET", "/ping", nil).want(t, 200)
		e.do("GET", "/ready", nil).want(t, 200)
	})
	t.Run("on without a store", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.ClientAuth = AuthOn })
		e.do("GET", "/kv/b/k", nil).want(t, 401)
		e.do("GET", "/admin/tokens", nil).want(t, 401)
		e.do("GET", "/ready", nil).want(t, 200)
	})
	t.Run("client certificate required", func(t *testing.T) {
		// The handler sees no TLS state here: no verified client
		// certificate, whatever the token mode.
		e := newEnv(t, func(c *Config) { c.ClientAuth, c.RequireClientCert = AuthOff, true })
		e.do("GET", "/kv/b/k", nil).want(t, 401)
		e.do("PUT", "/kv/b/k", []byte("v"), nil...).want(t, 401)
		e.do("GET", "/ping", nil).want(t, 200)
		e.do("GET", "/ready", nil).want(t, 200)
	})
	t.Run("auto", func(t *testing.T) {
		e, _ := authEnv(t, AuthAuto)
		e.do("PUT", "/kv/b/k", []byte("v"), nil...).want(t, 204)
		// The first token, made through the API while it is still open.
		r := e.do("POST", "/admin/tokens", []byte(`{"name":"root","grants":["admin"]}`), "Content-Type", "application/json").want(t, 201)
		var doc tokenDoc
		if err := json.Unmarshal(r.body, &doc); err != nil || doc.Token == "" {
			t.Fatalf("create: %s", r.body)
		}
		e.do("GET", "/kv/b/k", nil).want(t, 401)
		e.do("GET", "/ping", nil).want(t, 200)
		e.do("GET", "/kv/b/k", nil, bearerHdr(doc.Token)...).want(t, 200)
		e.do("DELETE", "/admin/tokens/"+doc.ID, nil, bearerHdr(doc.Token)...).want(t, 204)
		e.do("GET", "/kv/b/k", nil, bearerHdr(doc.Token)...).want(t, 200) // no token active: open again
		e.do("GET", "/kv/b/k", nil).want(t, 200)
	})
}

func TestClientAuth_parseAndResolve(t *testing.T) {
	for _, s := range []string{"on", "off", "auto"} {
		m, err := ParseClientAuth(s)
		if err != nil || m.String() != s {
			t.Errorf("ParseClientAuth(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseClientAuth("yes"); err == nil {
		t.Error("ParseClientAuth(yes) succeeded")
	}
	for _, tc := range []struct {
		m        ClientAuth
		loopback bool
		want     ClientAuth
	}{
		{AuthAuto, true, AuthAuto}, {AuthAuto, false, AuthOn},
		{AuthOff, false, AuthOff}, {AuthOn, true, AuthOn}, {AuthOff, true, AuthOff},
	} {
		if got := ResolveClientAuth(tc.m, tc.loopback); got != tc.want {
			t.Errorf("ResolveClientAuth(%v, %v) = %v, want %v", tc.m, tc.loopback, got, tc.want)
		}
	}
}

// TestTokens_management: create shows the token once, list never shows a
// secret or hash, grants are added and removed, revocation refuses the
// token; bad input is a 400 and changes nothing.
func TestTokens_management(t *testing.T) {
	e, ft := authEnv(t, AuthOn)
	root := bearerHdr(ft.mint(t, "admin"))
	js := append(root, "Content-Type", "application/json")

	r := e.do("POST", "/admin/tokens", []byte(`{"name":"ci","grants":["read:b","read:b"]}`), js...).want(t, 201)
	var created tokenDoc
	if err := json.Unmarshal(r.body, &created); err != nil || !strings.HasPrefix(created.Token, auth.Prefix) ||
		created.Name != "ci" || !slices.Equal(created.Grants, []string{"read:b"}) || created.Created.IsZero() {
		t.Fatalf("create: %s", r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Error("the answer with the token may be cached")
	}
	ci := bearerHdr(created.Token)
	e.do("GET", "/kv/b/k", nil, ci...).want(t, 404)
	e.do("PUT", "/kv/b/k", []byte("v"), ci...).want(t, 403)

	list := e.do("GET", "/admin/tokens", nil, root...).want(t, 200)
	id, _, _ := auth.Parse(created.Token)
	tok, _ := ft.Tokens().Get(id)
	if contains(list.String(), created.Token) || contains(list.String(), created.Token[len(auth.Prefix)+len(id)+1:]) ||
		contains(list.String(), fmt.Sprintf("%x", tok.Hash)) || !contains(list.String(), id) {
		t.Errorf("list shows a secret or hash, or lacks the id: %s", list.body)
	}

	r = e.do("POST", "/admin/tokens/"+id+"/grants", []byte(`{"grants":["write:b"]}`), js...).want(t, 200)
	if !contains(r.String(), `"write:b"`) {
		t.Errorf("grant: %s", r.body)
	}
	e.do("PUT", "/kv/b/k", []byte("v"), ci...).want(t, 204)
	e.do("DELETE", "/admin/tokens/"+id+"/grants", []byte(`{"grants":["write:b"]}`), js...).want(t, 200)
	e.do("PUT", "/kv/b/k", []byte("v"), ci...).want(t, 403)

	e.do("DELETE", "/admin/tokens/"+id, nil, root...).want(t, 204)
	e.do("GET", "/kv/b/k", nil, ci...).want(t, 401)
	e.do("POST", "/admin/tokens/"+id+"/grants", []byte(`{"grants":["write:b"]}`), js...).want(t, 409)
	if !contains(e.do("GET", "/admin/tokens", nil, root...).String(), `"revoked":true`) {
		t.Error("list does not show the revocation")
	}

	before := len(ft.Tokens().All())
	for _, bad := range []struct {
		method, path, body, ctype string
		code                      int
	}{
		{"POST", "/admin/tokens", `{"name":"x","grants":["nope"]}`, "application/json", 400},
		{"POST", "/admin/tokens", `{"grants":["read:b"]}`, "application/json", 400},
		{"POST", "/admin/tokens", `{"name":"","grants":[]}`, "application/json", 400},
		{"POST", "/admin/tokens", `{"name":"a\u0001b"}`, "application/json", 400},
		{"POST", "/admin/tokens", `{"name":"x","bogus":1}`, "application/json", 400},
		{"POST", "/admin/tokens", `{"name":"x"} {}`, "application/json", 400},
		{"POST", "/admin/tokens", `[]`, "application/json", 400},
		{"POST", "/admin/tokens", `{"name":"x"}`, "text/plain", 415},
		{"POST", "/admin/tokens/" + id + "/grants", `{"grants":[]}`, "application/json", 400},
		{"POST", "/admin/tokens/" + id + "/grants", `{"name":"y","grants":["read:b"]}`, "application/json", 400},
		{"POST", "/admin/tokens/ffffffffffffffffffffffff/grants", `{"grants":["read:b"]}`, "application/json", 404},
		{"DELETE", "/admin/tokens/ffffffffffffffffffffffff", "", "", 404},
		{"DELETE", "/admin/tokens/not-an-id", "", "", 404},
	} {
		r := e.do(bad.method, bad.path, []byte(bad.body), append(root, "Content-Type", bad.ctype)...)
		if r.code != bad.code {
			t.Errorf("%s %s %s: %d %s, want %d", bad.method, bad.path, bad.body, r.code, r.body, bad.code)
			continue
		}
		r.errorBody(t)
	}
	if n := len(ft.Tokens().All()); n != before {
		t.Errorf("bad requests changed the tokens: %d → %d", before, n)
	}
}

// TestAdminHandler: the admin listener serves token management without a
// token (the bootstrap path) and nothing of the client API.
func TestAdminHandler(t *testing.T) {
	ft := newFakeTokens()
	ft.mint(t, "admin") // tokens exist: the client API would refuse
	h := NewAdminHandler(newFake(), Config{Tokens: ft, ClientAuth: AuthOn})
	req := mustRequest(t, "POST", "/admin/tokens", `{"name":"root","grants":["admin"]}`)
	req.Header.Set("Content-Type", "application/json")
	r := serve(h, req)
	if r.code != 201 || !contains(r.String(), auth.Prefix) {
		t.Fatalf("create on the admin listener: %d %s", r.code, r.body)
	}
	if r := serve(h, mustRequest(t, "GET", "/admin/tokens", "")); r.code != 200 || !contains(r.String(), `"root"`) {
		t.Errorf("list on the admin listener: %d %s", r.code, r.body)
	}
	for _, p := range []string{"/kv/b/k", "/cluster", "/buckets"} {
		if r := serve(h, mustRequest(t, "GET", p, "")); r.code != 404 {
			t.Errorf("admin listener serves %s: %d", p, r.code)
		}
	}
	if r := serve(NewAdminHandler(newFake(), Config{}), mustRequest(t, "GET", "/admin/tokens", "")); r.code != 404 {
		t.Errorf("admin listener without a token store serves /admin/tokens: %d", r.code)
	}
}
