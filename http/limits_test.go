package http

import (
	"encoding/json"
	"io"
	nethttp "net/http"
	"strings"
	"testing"

	"github.com/dynamod/dynamod/quorum"
)

// countingReader fails a test that reads a body it should have refused.
type countingReader struct{ n int }

func (c *countingReader) Read(p []byte) (int, error) {
	c.n += len(p)
	return len(p), nil // an endless body
}

func TestLimits(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 1000 })
	e.do("PUT", "/buckets/tiny/props", []byte(`{"max_value_bytes":10,"max_siblings":2}`), "Content-Type", "application/json").want(t, 204)

	maxBytes := func(r resp) float64 {
		t.Helper()
		m := r.errorBody(t)
		d, _ := m["detail"].(map[string]any)
		n, _ := d["max_bytes"].(float64)
		return n
	}
	t.Run("value at the bucket limit", func(t *testing.T) {
		e.do("PUT", "/kv/tiny/k", []byte("0123456789")).want(t, 204)
	})
	t.Run("value over the bucket limit", func(t *testing.T) {
		r := e.do("PUT", "/kv/tiny/k", []byte("0123456789a")).want(t, 413)
		if maxBytes(r) != 10 {
			t.Errorf("body %s, want max_bytes 10", r.body)
		}
	})
	t.Run("chunked body over the limit", func(t *testing.T) {
		// An io.Reader of unknown length is sent chunked, without
		// Content-Length: the limited read catches it.
		req, err := nethttp.NewRequestWithContext(t.Context(), "PUT", e.srv.URL+"/kv/tiny/k",
			io.MultiReader(strings.NewReader("01234"), strings.NewReader("56789a")))
		if err != nil {
			t.Fatal(err)
		}
		if req.ContentLength != 0 {
			t.Fatalf("ContentLength = %d, want unknown", req.ContentLength)
		}
		e.send(req).want(t, 413)
	})
	t.Run("declared length refused unread", func(t *testing.T) {
		req := mustRequest(t, "PUT", "/kv/tiny/k", "")
		body := &countingReader{}
		req.Body, req.ContentLength = io.NopCloser(body), 1<<40
		if r := serve(e.h, req); r.code != 413 || body.n != 0 {
			t.Fatalf("= %d after reading %d bytes, want 413 unread", r.code, body.n)
		}
	})
	t.Run("endless body stops at the hard cap", func(t *testing.T) {
		req := mustRequest(t, "PUT", "/kv/b/k", "")
		body := &countingReader{}
		req.Body, req.ContentLength = io.NopCloser(body), -1
		r := serve(e.h, req)
		if r.code != 413 || maxBytes(r) != 1000 || body.n > 64<<10 {
			t.Fatalf("= %d %s after reading %d bytes, want 413 max_bytes 1000", r.code, r.body, body.n)
		}
	})
	t.Run("hard cap below the bucket limit", func(t *testing.T) {
		e.do("PUT", "/kv/b/k", []byte(strings.Repeat("x", 1000))).want(t, 204)
		r := e.do("PUT", "/kv/b/k", []byte(strings.Repeat("x", 1001))).want(t, 413)
		if maxBytes(r) != 1000 {
			t.Errorf("body %s, want max_bytes 1000", r.body)
		}
	})
	t.Run("sibling limit from the backend", func(t *testing.T) {
		e.do("PUT", "/kv/tiny/s", []byte("a")).want(t, 204)
		e.do("PUT", "/kv/tiny/s", []byte("b")).want(t, 204)
		r := e.do("PUT", "/kv/tiny/s", []byte("c")).want(t, 413)
		if m := r.errorBody(t); m["error"] != "too large" || !contains(r.String(), "siblings") {
			t.Errorf("body %s", r.body)
		}
	})
	t.Run("props body over its limit", func(t *testing.T) {
		big := `{"resolver":"` + strings.Repeat("x", maxPropsBytes) + `"}`
		e.do("PUT", "/buckets/b/props", []byte(big), "Content-Type", "application/json").want(t, 413)
	})
	t.Run("415", func(t *testing.T) {
		for _, ct := range []string{"", "text/plain", "application/jsonx", "application/json;;", "json"} {
			hdr := []string{}
			if ct != "" {
				hdr = []string{"Content-Type", ct}
			}
			r := e.do("PUT", "/buckets/b/props", []byte(`{"n_val":1}`), hdr...).want(t, 415)
			if m := r.errorBody(t); m["error"] != "unsupported media type" {
				t.Errorf("Content-Type %q: body %s", ct, r.body)
			}
		}
		for _, ct := range []string{"text/", "/plain", "text/plain; charset", `text/plain; a="b`, "a b/c"} {
			e.do("PUT", "/kv/b/k", []byte("v"), "Content-Type", ct).want(t, 415)
		}
	})
}

// TestProps checks GET, PUT (partial, validated, every problem listed) and
// DELETE of bucket properties, and that a bucket's n_val bounds quorums.
func TestProps(t *testing.T) {
	e := newEnv(t)
	get := func() map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(e.do("GET", "/buckets/b/props", nil).want(t, 200).body, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	def := get()
	if def["n_val"] != 3.0 || def["r"] != "quorum" || def["notfound_ok"] != true || def["resolver"] != "siblings" {
		t.Fatalf("default props = %v", def)
	}
	put := func(body string) resp {
		return e.do("PUT", "/buckets/b/props", []byte(body), "Content-Type", "application/json")
	}

	put(`{"n_val":5,"r":"one","w":2,"notfound_ok":false,"resolver":"lww"}`).want(t, 204)
	p := get()
	if p["n_val"] != 5.0 || p["r"] != "one" || p["w"] != 2.0 || p["notfound_ok"] != false || p["resolver"] != "lww" || p["max_siblings"] != float64(quorum.DefaultProps().MaxSiblings) {
		t.Fatalf("after PUT props = %v", p)
	}
	put(`{"max_siblings":7}`).want(t, 204) // partial: the rest stays
	if p := get(); p["n_val"] != 5.0 || p["max_siblings"] != 7.0 || p["read_repair_chance"] != 0.1 {
		t.Fatalf("after partial PUT props = %v", p)
	}
	put(`{"read_repair_chance":0}`).want(t, 204) // an explicit 0 is kept
	if p := get(); p["read_repair_chance"] != 0.0 {
		t.Fatalf("read_repair_chance 0 stored as %v", p["read_repair_chance"])
	}
	if r := put(`{"read_repair_chance":1.5}`).want(t, 400); !contains(string(r.body), "read_repair_chance must be 0..1") {
		t.Errorf("read_repair_chance 1.5: %s", r.body)
	}

	r := put(`{"n_val":99,"r":"banana","w":1.5,"bogus":1,"max_siblings":-1,"notfound_ok":"yes","dw":"x"}`).want(t, 400)
	m := r.errorBody(t)
	d, _ := m["detail"].(map[string]any)
	probs, _ := d["problems"].([]any)
	text, _ := json.Marshal(probs)
	for _, want := range []string{`unknown property \"bogus\"`, "r: ", "w: ", "notfound_ok: ", "n_val must be", "max_siblings must be", "dw: "} {
		if !contains(string(text), want) {
			t.Errorf("problems %s lack %q", text, want)
		}
	}
	if len(probs) != 7 {
		t.Errorf("%d problems, want 7: %s", len(probs), text)
	}
	for _, body := range []string{`not json`, `[1]`, `null`, `{"n_val":1} {}`, `{"n_val":1`, ``} {
		put(body).want(t, 400)
	}
	put(`{"resolver":"no-such"}`).want(t, 400) // the backend's validation
	put(`{"n_val":1}`).want(t, 400)            // the merge: w is 2
	if p := get(); p["n_val"] != 5.0 || p["max_siblings"] != 7.0 || p["resolver"] != "lww" {
		t.Fatalf("rejected PUTs changed props: %v", p)
	}

	// Quorums are checked against the bucket's n_val.
	put(`{"n_val":1,"w":1,"r":1}`).want(t, 204)
	e.do("PUT", "/kv/b/k", []byte("v")).want(t, 204)
	e.do("GET", "/kv/b/k?r=2", nil).want(t, 400)
	e.do("GET", "/kv/b/k?r=1", nil).want(t, 200)
	e.do("GET", "/kv/other/k?r=2", nil).want(t, 404) // default n_val 3

	e.do("DELETE", "/buckets/b/props", nil).want(t, 204)
	if p := get(); p["n_val"] != 3.0 || p["resolver"] != "siblings" {
		t.Fatalf("after DELETE props = %v", p)
	}
}
