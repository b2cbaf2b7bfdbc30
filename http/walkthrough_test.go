package http

import (
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	nethttp "net/http"
	"slices"
	"strings"
	"testing"
)

// part is one decoded sibling of a 300, from either body form.
type part struct {
	header nethttp.Header
	value  string
}

// multipartSiblings parses a multipart/mixed 300 with mime/multipart.
func multipartSiblings(t *testing.T, r resp) []part {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		t.Fatalf("Content-Type = %q (%v), want multipart/mixed with a boundary", r.header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(strings.NewReader(string(r.body)), params["boundary"])
	var parts []part
	for range 1000 {
		p, err := mr.NextPart()
		if err == io.EOF {
			return parts
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		parts = append(parts, part{header: nethttp.Header(p.Header), value: string(b)})
	}
	t.Fatal("more than 1000 parts")
	return nil
}

// jsonSiblings parses an application/json 300.
func jsonSiblings(t *testing.T, r resp) siblingsDoc {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var doc siblingsDoc
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
	return doc
}

func partValues(ps []part) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.value)
	}
	slices.Sort(out)
	return out
}

// TestWalkthrough is the README's curl session: write, read, conflict,
// resolve, stale write, delete, re-create, and rejected requests that change
// nothing.
func TestWalkthrough(t *testing.T) {
	e := newEnv(t)
	const path = "/kv/fruit/apple"
	ctxOf := func(r resp) string {
		t.Helper()
		c := r.header.Get(hdrContext)
		if c == "" {
			t.Fatalf("no %s on %d response", hdrContext, r.code)
		}
		return c
	}

	// 1. A first write and a read that returns the value and its context.
	e.do("PUT", path, []byte("red"), "Content-Type", "text/plain").want(t, 204)
	r := e.do("GET", path, nil).want(t, 200)
	if r.String() != "red" || r.header.Get("Content-Type") != "text/plain" {
		t.Fatalf("GET = %q %q, want red text/plain", r.body, r.header.Get("Content-Type"))
	}
	c1 := ctxOf(r)

	// 2. Two clients write with the same context, neither seeing the other.
	e.do("PUT", path, []byte("green"), hdrContext, c1).want(t, 204)
	e.do("PUT", path, []byte("yellow"), hdrContext, c1).want(t, 204)
	r = e.do("GET", path, nil).want(t, 300)
	parts := multipartSiblings(t, r)
	if got, want := partValues(parts), []string{"green", "yellow"}; !slices.Equal(got, want) {
		t.Fatalf("multipart siblings = %q, want %q", got, want)
	}
	c2 := ctxOf(r)
	rj := e.do("GET", path, nil, "Accept", "application/json").want(t, 300)
	doc := jsonSiblings(t, rj)
	var jv []string
	for _, s := range doc.Siblings {
		jv = append(jv, string(s.Value))
	}
	slices.Sort(jv)
	if !slices.Equal(jv, []string{"green", "yellow"}) || doc.Context != c2 || ctxOf(rj) != c2 {
		t.Fatalf("JSON siblings = %q context %q, want green, yellow and %q", jv, doc.Context, c2)
	}

	// 3. Writing with the 300's context resolves the conflict.
	e.do("PUT", path, []byte("orange"), hdrContext, c2).want(t, 204)
	r = e.do("GET", path, nil).want(t, 200)
	if r.String() != "orange" {
		t.Fatalf("after resolve GET = %q, want orange", r.body)
	}

	// 4. A write with an older context is concurrent again.
	e.do("PUT", path, []byte("stale"), hdrContext, c2).want(t, 204)
	r = e.do("GET", path, nil).want(t, 300)
	if got := partValues(multipartSiblings(t, r)); !slices.Equal(got, []string{"orange", "stale"}) {
		t.Fatalf("after stale write siblings = %q, want orange, stale", got)
	}
	c4 := ctxOf(r)

	// 5. Delete with the full context: a tombstone, 404 with context.
	e.do("DELETE", path, nil, hdrContext, c4).want(t, 204)
	r = e.do("GET", path, nil).want(t, 404)
	if r.header.Get(hdrDeleted) != "true" {
		t.Fatalf("tombstone GET: %s = %q, want true", hdrDeleted, r.header.Get(hdrDeleted))
	}
	if m := r.errorBody(t); m["error"] != "not found" {
		t.Fatalf("tombstone body = %v", m)
	}
	c5 := ctxOf(r)

	// 6. Re-create with the tombstone's context: one value, no sibling.
	e.do("PUT", path, []byte("pear"), hdrContext, c5).want(t, 204)
	r = e.do("GET", path, nil).want(t, 200)
	if r.String() != "pear" {
		t.Fatalf("re-created GET = %q, want pear", r.body)
	}
	c6 := ctxOf(r)

	// 7. Rejected requests change nothing and never reach the backend.
	calls := e.f.calls.Load()
	e.do("PUT", path, []byte("bad"), hdrContext, "not base64!").want(t, 400)
	e.do("PUT", path, []byte("bad"), hdrContext, c6+"A").want(t, 400)
	e.do("GET", path+"?r=99", nil).want(t, 400)
	e.do("PUT", path+"?w=banana", []byte("bad")).want(t, 400)
	e.do("DELETE", path+"?w=banana", nil).want(t, 400)
	if n := e.f.calls.Load(); n != calls {
		t.Fatalf("backend called %d times by rejected requests", n-calls)
	}
	r = e.do("GET", path, nil).want(t, 200)
	if r.String() != "pear" || ctxOf(r) != c6 {
		t.Fatalf("after rejected requests GET = %q %q, want pear %q", r.body, ctxOf(r), c6)
	}

	// A key never written is a plain 404, without context.
	r = e.do("GET", "/kv/fruit/kiwi", nil).want(t, 404)
	if r.header.Get(hdrContext) != "" || r.header.Get(hdrDeleted) != "" {
		t.Fatalf("unknown key 404 carries %v", r.header)
	}
	if m := r.errorBody(t); m["error"] != "not found" || m["detail"] != nil {
		t.Fatalf("unknown key body = %v, want exactly {error: not found}", m)
	}
}
