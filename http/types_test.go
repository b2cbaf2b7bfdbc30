package http

import (
	"encoding/json"
	"slices"
	"testing"
)

func jsonCT() []string { return []string{"Content-Type", "application/json"} }

// typeBody decodes a /types answer.
func typeBody(t *testing.T, r resp) (typ string, value any, context string) {
	t.Helper()
	var d struct {
		Type    string `json:"type"`
		Value   any    `json:"value"`
		Context string `json:"context"`
	}
	if err := json.Unmarshal(r.body, &d); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	if h := r.header.Get("Dynamod-Context"); h != d.Context {
		t.Fatalf("Dynamod-Context %q, body context %q", h, d.Context)
	}
	return d.Type, d.Value, d.Context
}

func TestTypes_counter(t *testing.T) {
	e := newEnv(t)
	e.do("PUT", "/buckets/c/props", []byte(`{"datatype":"counter"}`), jsonCT()...).want(t, 204)
	e.do("GET", "/types/c/k", nil).want(t, 404)
	e.do("POST", "/types/c/k", []byte(`{"increment":5}`), jsonCT()...).want(t, 200)
	r := e.do("POST", "/types/c/k", []byte(`{"increment":-2}`), jsonCT()...).want(t, 200)
	if typ, v, _ := typeBody(t, r); typ != "counter" || v != 3.0 {
		t.Fatalf("got %s %v, want counter 3", typ, v)
	}
	if _, v, _ := typeBody(t, e.do("GET", "/types/c/k", nil).want(t, 200)); v != 3.0 {
		t.Fatalf("read %v, want 3", v)
	}
}

// TestTypes_refused: every malformed or misplaced request is a 4xx with
// a JSON body and reaches no write.
func TestTypes_refused(t *testing.T) {
	e := newEnv(t)
	e.do("PUT", "/buckets/c/props", []byte(`{"datatype":"counter"}`), jsonCT()...).want(t, 204)
	e.do("PUT", "/buckets/s/props", []byte(`{"datatype":"set"}`), jsonCT()...).want(t, 204)
	for _, c := range []struct {
		name, method, path, body string
		hdr                      []string
		code                     int
	}{
		{"no datatype", "POST", "/types/plain/k", `{"increment":1}`, jsonCT(), 409},
		{"no datatype read", "GET", "/types/plain/k", ``, nil, 409},
		{"set op on a counter", "POST", "/types/c/k", `{"add":["a"]}`, jsonCT(), 400},
		{"unknown member", "POST", "/types/c/k", `{"increment":1,"x":2}`, jsonCT(), 400},
		{"malformed", "POST", "/types/c/k", `{"increment":`, jsonCT(), 400},
		{"not JSON", "POST", "/types/c/k", `{"increment":1}`, []string{"Content-Type", "text/plain"}, 415},
		{"remove without context", "POST", "/types/s/k", `{"remove":["a"]}`, jsonCT(), 412},
		{"bad context", "POST", "/types/s/k", `{"remove":["a"],"context":"@@"}`, jsonCT(), 400},
		{"bad context header", "POST", "/types/s/k", `{"remove":["a"]}`, append(jsonCT(), "Dynamod-Context", "@@"), 400},
		{"plain PUT", "PUT", "/kv/c/k", `x`, []string{"Content-Type", "text/plain"}, 409},
		{"plain POST", "POST", "/kv/c", `x`, []string{"Content-Type", "text/plain"}, 409},
		{"plain DELETE", "DELETE", "/kv/c/k", ``, nil, 409},
		{"change datatype", "PUT", "/buckets/c/props", `{"datatype":"set"}`, jsonCT(), 400},
		{"unset datatype", "PUT", "/buckets/c/props", `{"datatype":""}`, jsonCT(), 400},
		{"unknown datatype", "PUT", "/buckets/x/props", `{"datatype":"list"}`, jsonCT(), 400},
		{"datatype and ttl", "PUT", "/buckets/x/props", `{"datatype":"set","ttl":"1m"}`, jsonCT(), 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.f.writes.Load()
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
			}
			r := e.do(c.method, c.path, body, c.hdr...).want(t, c.code)
			r.errorBody(t)
			if e.f.writes.Load() != before {
				t.Fatalf("a refused request wrote")
			}
		})
	}
}

func TestTypes_setRemoveNeedsSeenContext(t *testing.T) {
	e := newEnv(t)
	e.do("PUT", "/buckets/s/props", []byte(`{"datatype":"set"}`), jsonCT()...).want(t, 204)
	e.do("POST", "/types/s/cart", []byte(`{"add":["apple","pear"]}`), jsonCT()...).want(t, 200)
	_, _, ctx := typeBody(t, e.do("GET", "/types/s/cart", nil).want(t, 200))
	e.do("POST", "/types/s/cart", []byte(`{"remove":["plum"],"context":"`+ctx+`"}`), jsonCT()...).want(t, 412)
	r := e.do("POST", "/types/s/cart", []byte(`{"remove":["apple"]}`), append(jsonCT(), "Dynamod-Context", ctx)...).want(t, 200)
	if _, v, _ := typeBody(t, r); !slices.Equal(toStrings(v), []string{"pear"}) {
		t.Fatalf("set %v, want [pear]", v)
	}
}

func TestTypes_map(t *testing.T) {
	e := newEnv(t)
	e.do("PUT", "/buckets/m/props", []byte(`{"datatype":"map"}`), jsonCT()...).want(t, 204)
	r := e.do("POST", "/types/m/u", []byte(`{"update":{"visits_counter":{"increment":2},"name_register":{"assign":"ann"},
		"vip_flag":{"enable":true},"tags_set":{"add":["x"]},"address_map":{"update":{"city_register":{"assign":"Oslo"}}}}}`), jsonCT()...).want(t, 200)
	_, v, _ := typeBody(t, r)
	got, _ := json.Marshal(v)
	want := `{"address_map":{"city_register":"Oslo"},"name_register":"ann","tags_set":["x"],"vip_flag":true,"visits_counter":2}`
	if string(got) != want {
		t.Fatalf("map %s, want %s", got, want)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
