package http

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	nethttp "net/http"
	"strings"
	"sync"
	"testing"

	"github.com/dynamod/dynamod/quorum"
)

// keyCall is one GossipKeys call a fake received.
type keyCall struct {
	op  string
	key []byte
}

// fakeKeyCalls records the GossipKeys calls of each fake.
var fakeKeyCalls struct {
	mu sync.Mutex
	m  map[*fakeBackend][]keyCall
}

func keyCalls(f *fakeBackend) []keyCall {
	fakeKeyCalls.mu.Lock()
	defer fakeKeyCalls.mu.Unlock()
	return fakeKeyCalls.m[f]
}

// GossipKeys implements Backend: it records the call, refuses keys that
// are not 16, 24 or 32 bytes (400), refuses a key of 16 bytes of 0xee as
// the node layer refuses a use the cluster is not ready for (409 with a
// document), and otherwise answers a document naming the operation.
func (f *fakeBackend) GossipKeys(_ context.Context, op string, key []byte) (json.RawMessage, error) {
	fakeKeyCalls.mu.Lock()
	if fakeKeyCalls.m == nil {
		fakeKeyCalls.m = map[*fakeBackend][]keyCall{}
	}
	fakeKeyCalls.m[f] = append(fakeKeyCalls.m[f], keyCall{op, key})
	fakeKeyCalls.mu.Unlock()
	if key != nil && len(key) != 16 && len(key) != 24 && len(key) != 32 {
		return nil, fmt.Errorf("%w: a key is 16, 24 or 32 bytes, got %d", quorum.ErrBadRequest, len(key))
	}
	if string(key) == strings.Repeat("\xee", 16) {
		return json.RawMessage(`{"op":"use","ok":false,"refused":"the key is not installed on n2"}`),
			fmt.Errorf("%w: refused", ErrConflict)
	}
	return json.RawMessage(fmt.Sprintf(`{"op":%q,"ok":true,"nodes":[{"node":"n1","primary":"abcd0123","keys":["abcd0123"]}]}`, op)), nil
}

func TestGossipKeys_routes(t *testing.T) {
	key := []byte("0123456789abcdef")
	body := func(k []byte) []byte { return []byte(`{"key":"` + base64.StdEncoding.EncodeToString(k) + `"}`) }
	ct := []string{"Content-Type", "application/json"}
	cases := []struct {
		name, method, path string
		body               []byte
		hdr                []string
		code               int
		op                 string // the backend call expected; "" for none
	}{
		{"list", "GET", "/admin/gossip-keys", nil, nil, 200, "list"},
		{"install", "POST", "/admin/gossip-keys", body(key), ct, 200, "install"},
		{"use", "PUT", "/admin/gossip-keys/primary", body(key), ct, 200, "use"},
		{"remove", "DELETE", "/admin/gossip-keys", body(key), ct, 200, "remove"},
		{"unpadded base64", "POST", "/admin/gossip-keys", []byte(`{"key":"` + base64.RawStdEncoding.EncodeToString(key[:8]) + `"}`), ct, 400, "install"},
		{"no content type", "POST", "/admin/gossip-keys", body(key), nil, 415, ""},
		{"not json", "POST", "/admin/gossip-keys", []byte("key=abc"), ct, 400, ""},
		{"no key", "POST", "/admin/gossip-keys", []byte(`{}`), ct, 400, ""},
		{"unknown field", "POST", "/admin/gossip-keys", []byte(`{"key":"MDEyMzQ1Njc4OWFiY2RlZg==","primary":true}`), ct, 400, ""},
		{"two objects", "POST", "/admin/gossip-keys", append(body(key), body(key)...), ct, 400, ""},
		{"not base64", "PUT", "/admin/gossip-keys/primary", []byte(`{"key":"not*base64"}`), ct, 400, ""},
		{"bad timeout", "GET", "/admin/gossip-keys?timeout=0", nil, nil, 400, ""},
		{"wrong method", "PATCH", "/admin/gossip-keys", nil, nil, 405, ""},
		{"refused", "PUT", "/admin/gossip-keys/primary", body([]byte(strings.Repeat("\xee", 16))), ct, 409, "use"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.do(tc.method, tc.path, tc.body, tc.hdr...).want(t, tc.code)
			calls := keyCalls(e.f)
			if tc.op == "" {
				if len(calls) != 0 {
					t.Fatalf("backend called: %+v", calls)
				}
				r.errorBody(t)
				return
			}
			if len(calls) != 1 || calls[0].op != tc.op {
				t.Fatalf("backend calls %+v, want one %s", calls, tc.op)
			}
			if tc.op != "list" && tc.code != 400 && string(calls[0].key) != string(keyOf(t, tc.body)) {
				t.Errorf("backend got another key")
			}
			if tc.code == 200 {
				var doc map[string]any
				if err := json.Unmarshal(r.body, &doc); err != nil || doc["op"] != tc.op {
					t.Errorf("body %s: %v", r.body, err)
				}
				return
			}
			m := r.errorBody(t)
			if tc.code == 409 {
				d, _ := m["detail"].(map[string]any)
				if d["refused"] != "the key is not installed on n2" {
					t.Errorf("409 detail %v, want the backend's document", m["detail"])
				}
			}
			if strings.Contains(string(r.body), "MDEyMzQ1Njc4OWFiY2RlZg") {
				t.Errorf("the key is echoed: %s", r.body)
			}
		})
	}
}

func keyOf(t *testing.T, body []byte) []byte {
	var req struct{ Key string }
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	k, err := base64.StdEncoding.DecodeString(req.Key)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestGossipKeys_needClusterAdmin: with tokens on, a token without the
// cluster-admin grant gets 403 and the backend is never called.
func TestGossipKeys_needClusterAdmin(t *testing.T) {
	e, ft := authEnv(t, AuthOn)
	tok := ft.mint(t, "admin:*", "read:*", "write:*")
	r := e.do(nethttp.MethodGet, "/admin/gossip-keys", nil, "Authorization", "Bearer "+tok)
	r.want(t, 403)
	if calls := keyCalls(e.f); len(calls) != 0 {
		t.Fatalf("backend called: %+v", calls)
	}
}

// TestGossipKeys_adminListener: the admin listener serves the gossip key
// routes without a token, like token management.
func TestGossipKeys_adminListener(t *testing.T) {
	f := newFake()
	ft := newFakeTokens()
	ft.mint(t, "admin")
	h := NewAdminHandler(f, Config{Tokens: ft, ClientAuth: AuthOn})
	if r := serve(h, mustRequest(t, "GET", "/admin/gossip-keys", "")); r.code != 200 || !contains(r.String(), `"op":"list"`) {
		t.Fatalf("list on the admin listener: %d %s", r.code, r.body)
	}
	req := mustRequest(t, "POST", "/admin/gossip-keys", `{"key":"MDEyMzQ1Njc4OWFiY2RlZg=="}`)
	req.Header.Set("Content-Type", "application/json")
	if r := serve(h, req); r.code != 200 {
		t.Fatalf("install on the admin listener: %d %s", r.code, r.body)
	}
	if calls := keyCalls(f); len(calls) != 2 || calls[1].op != "install" || string(calls[1].key) != "0123456789abcdef" {
		t.Errorf("backend calls %+v", calls)
	}
}
