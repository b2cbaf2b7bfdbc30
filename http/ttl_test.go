package http

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dynamod/dynamod/versioning"
)

// storedExpiry is the expiry of the one value the fake holds for b/k.
func (e *env) storedExpiry(t *testing.T) int64 {
	t.Helper()
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	vs := versioning.Values(e.f.objects["b"]["k"])
	if len(vs) != 1 {
		t.Fatalf("%d values stored, want 1", len(vs))
	}
	return vs[0].Expires
}

// TestTTL_write: a write's ttl (parameter or header) or else the bucket's
// sets the value's expiry from the receiving node's clock; bad ones are
// 400s that store nothing; a read shows the expiry.
func TestTTL_write(t *testing.T) {
	e := newEnv(t)
	put := func(path string, hdr ...string) resp {
		return e.do("PUT", path, []byte("v"), append([]string{"Content-Type", "text/plain"}, hdr...)...)
	}
	near := func(got int64, ttl time.Duration) bool {
		d := time.Until(time.Unix(0, got))
		return d > ttl-time.Minute && d <= ttl
	}

	put("/kv/b/k").want(t, 204)
	if ex := e.storedExpiry(t); ex != 0 {
		t.Fatalf("no ttl: expiry %d, want none", ex)
	}
	if h := e.do("GET", "/kv/b/k", nil).want(t, 200).header.Get(hdrExpires); h != "" {
		t.Fatalf("a value without expiry shows %s %q", hdrExpires, h)
	}
	e.f.objects = map[string]map[string]versioning.Clock{}
	put("/kv/b/k?ttl=2h").want(t, 204)
	if ex := e.storedExpiry(t); !near(ex, 2*time.Hour) {
		t.Fatalf("ttl=2h: expires in %v", time.Until(time.Unix(0, ex)))
	}
	r := e.do("GET", "/kv/b/k", nil).want(t, 200)
	if got, err := time.Parse(time.RFC3339Nano, r.header.Get(hdrExpires)); err != nil || got.UnixNano() != e.storedExpiry(t) {
		t.Fatalf("%s: %q (%v), want the stored expiry", hdrExpires, r.header.Get(hdrExpires), err)
	}
	e.f.objects = map[string]map[string]versioning.Clock{}
	put("/kv/b/k", hdrTTL, "90").want(t, 204)
	if ex := e.storedExpiry(t); !near(ex, 90*time.Second) {
		t.Fatalf("%s: 90: expires in %v", hdrTTL, time.Until(time.Unix(0, ex)))
	}

	e.do("PUT", "/buckets/b/props", []byte(`{"ttl":"30m"}`), "Content-Type", "application/json").want(t, 204)
	e.f.objects = map[string]map[string]versioning.Clock{}
	put("/kv/b/k").want(t, 204)
	if ex := e.storedExpiry(t); !near(ex, 30*time.Minute) {
		t.Fatalf("bucket ttl 30m: expires in %v", time.Until(time.Unix(0, ex)))
	}
	e.f.objects = map[string]map[string]versioning.Clock{}
	put("/kv/b/k?ttl=5s").want(t, 204)
	if ex := e.storedExpiry(t); !near(ex, 5*time.Second) {
		t.Fatalf("the write's ttl wins over the bucket's: expires in %v", time.Until(time.Unix(0, ex)))
	}
	var props map[string]any
	if err := json.Unmarshal(e.do("GET", "/buckets/b/props", nil).want(t, 200).body, &props); err != nil || props["ttl"] != "30m0s" {
		t.Fatalf("props ttl %v (%v)", props["ttl"], err)
	}

	e.f.objects = map[string]map[string]versioning.Clock{}
	for _, bad := range []struct {
		path string
		hdr  []string
		want string
	}{
		{"/kv/b/k?ttl=0", nil, "more than 0"},
		{"/kv/b/k?ttl=-5s", nil, "more than 0"},
		{"/kv/b/k?ttl=soon", nil, "want a duration"},
		{"/kv/b/k?ttl=1000000h", nil, "at most"},
		{"/kv/b/k?ttl=1s&ttl=2s", nil, "more than one"},
		{"/kv/b/k?ttl=1s", []string{hdrTTL, "1s"}, "once"},
		{"/kv/b/k", []string{hdrTTL, ""}, "want a duration"},
	} {
		r := put(bad.path, bad.hdr...).want(t, 400)
		if m := r.errorBody(t); !strings.Contains(r.String(), bad.want) {
			t.Fatalf("%s %v: %v, want %q", bad.path, bad.hdr, m, bad.want)
		}
	}
	if len(e.f.objects["b"]) != 0 {
		t.Fatal("a refused write stored something")
	}
	for _, bad := range []string{`{"ttl":"-1s"}`, `{"ttl":"forever"}`, `{"ttl":30}`} {
		e.do("PUT", "/buckets/b/props", []byte(bad), "Content-Type", "application/json").want(t, 400).errorBody(t)
	}
}
