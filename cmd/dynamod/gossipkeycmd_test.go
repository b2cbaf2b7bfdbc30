package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dynamod/dynamod/gossip"
)

// keyNode is a fake node answering the gossip key routes: it refuses a use
// of the key "refuse" (16 bytes of 0xee) as a node does when some member
// lacks it.
type keyNode struct {
	mu   sync.Mutex
	reqs []string // "METHOD PATH FINGERPRINT" (of the key in the body, if any)
}

func (k *keyNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct{ Key string }
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	fp := ""
	if raw, err := base64.StdEncoding.DecodeString(body.Key); err == nil && len(raw) > 0 {
		fp = gossip.Fingerprint(raw)
	}
	k.mu.Lock()
	k.reqs = append(k.reqs, r.Method+" "+r.URL.Path+" "+fp)
	k.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if fp == gossip.Fingerprint([]byte(strings.Repeat("\xee", 16))) {
		w.WriteHeader(409)
		_, _ = w.Write([]byte(`{"error":"gossip keys not changed everywhere","detail":{"op":"use","key":"` + fp + `","ok":false,"refused":"the key is not installed on n2; install it first","nodes":[{"node":"n1","primary":"aaaa0000","keys":["aaaa0000","` + fp + `"]},{"node":"n2","primary":"aaaa0000","keys":["aaaa0000"]}],"keys":[{"key":"aaaa0000","installed_on":2,"primary_on":2}]}}`))
		return
	}
	op := map[string]string{"GET": "list", "POST": "install", "PUT": "use", "DELETE": "remove"}[r.Method]
	_, _ = w.Write([]byte(`{"op":"` + op + `","key":"` + fp + `","ok":true,"nodes":[{"node":"n1","primary":"aaaa0000","keys":["aaaa0000","` + fp + `"]}],"keys":[{"key":"aaaa0000","installed_on":1,"primary_on":1}]}`))
}

func (k *keyNode) sent() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.reqs...)
}

func TestGossipKey_commands(t *testing.T) {
	kn := &keyNode{}
	srv := httptest.NewServer(kn)
	defer srv.Close()
	key := []byte("0123456789abcdef0123456789abcdef")
	fp := gossip.Fingerprint(key)
	file := filepath.Join(t.TempDir(), "gossip.key")
	if err := os.WriteFile(file, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	node := []string{"--node", srv.URL}

	code, out, errs := runCLI(append([]string{"gossip-key", "install", "--key-file", file}, node...)...)
	if code != 0 || !strings.Contains(out, "install "+fp) || strings.Contains(out, base64.StdEncoding.EncodeToString(key)) {
		t.Errorf("install --key-file: exit %d, %q %q", code, out, errs)
	}
	code, _, errs = runCLI(append([]string{"gossip-key", "use", base64.StdEncoding.EncodeToString(key)}, node...)...)
	if code != 0 {
		t.Errorf("use KEY: exit %d, %q", code, errs)
	}
	code, _, errs = runCLI(append([]string{"gossip-key", "remove", base64.StdEncoding.EncodeToString(key)}, node...)...)
	if code != 0 {
		t.Errorf("remove KEY: exit %d, %q", code, errs)
	}
	code, out, _ = runCLI(append([]string{"gossip-key", "list", "--json"}, node...)...)
	var doc map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || doc["op"] != "list" {
		t.Errorf("list --json: exit %d, %q", code, out)
	}
	want := []string{
		"POST /admin/gossip-keys " + fp,
		"PUT /admin/gossip-keys/primary " + fp,
		"DELETE /admin/gossip-keys " + fp,
		"GET /admin/gossip-keys ",
	}
	if got := kn.sent(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("sent %q, want %q", got, want)
	}

	refused := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\xee", 16)))
	code, out, errs = runCLI(append([]string{"gossip-key", "use", refused}, node...)...)
	if code != 1 || !strings.Contains(errs, "refused, nothing changed: the key is not installed on n2") || !strings.Contains(out, "n2") {
		t.Errorf("refused use: exit %d, out %q, err %q", code, out, errs)
	}

	before := len(kn.sent())
	bad := filepath.Join(t.TempDir(), "bad.key")
	if err := os.WriteFile(bad, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"gossip-key"},
		{"gossip-key", "rotate"},
		{"gossip-key", "list", "abc"},
		{"gossip-key", "install"},
		{"gossip-key", "install", "not*base64"},
		{"gossip-key", "install", base64.StdEncoding.EncodeToString([]byte("short"))},
		{"gossip-key", "install", base64.StdEncoding.EncodeToString(key), "--key-file", file},
		{"gossip-key", "install", "--key-file", bad},
		{"gossip-key", "use", base64.StdEncoding.EncodeToString(key), "--node", srv.URL + "," + srv.URL},
	} {
		full := append(append([]string{args[0]}, node...), args[1:]...) // a later --node wins
		if code, _, errs := runCLI(full...); code != 2 || errs == "" {
			t.Errorf("%q: exit %d, %q; want a usage error", args, code, errs)
		}
	}
	if n := len(kn.sent()); n != before {
		t.Errorf("%d requests sent for bad command lines", n-before)
	}
}

// TestServe_gossipKeyFlags: --gossip-key comes first, then the keys of
// --gossip-key-file; a bad key is a usage error; a key on the command
// line is warned about; a persisted keyring counts as a key for the
// start-up rule.
func TestServe_gossipKeyFlags(t *testing.T) {
	dir := t.TempDir()
	k1, k2, k3 := []byte(strings.Repeat("1", 16)), []byte(strings.Repeat("2", 24)), []byte(strings.Repeat("3", 32))
	file := filepath.Join(dir, "keys")
	if err := os.WriteFile(file, gossip.FormatKeys([][]byte{k2, k3}), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	f := serveFlags{gossipKey: base64.StdEncoding.EncodeToString(k1), gossipKeyFile: file, data: dir}
	keys, err := gossipKeys(f, log)
	if err != nil || len(keys) != 3 || string(keys[0]) != string(k1) || string(keys[1]) != string(k2) || string(keys[2]) != string(k3) {
		t.Fatalf("keys %q, %v", keys, err)
	}
	if !strings.Contains(logs.String(), "process list") {
		t.Errorf("no warning about --gossip-key: %q", logs.String())
	}
	for _, bad := range []serveFlags{{gossipKey: "c2hvcnQ="}, {gossipKey: "***"}, {gossipKeyFile: filepath.Join(dir, "nope")}} {
		if _, err := gossipKeys(bad, log); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if _, err := gossipKeys(serveFlags{gossipKey: "c2hvcnQ="}, log); !errors.As(err, new(usageError)) {
		t.Errorf("short key: %v, want a usage error", err)
	}
	empty := serveFlags{data: t.TempDir()}
	if gossipKeyConfigured(empty) {
		t.Error("no key and no keyring: configured")
	}
	if err := os.WriteFile(keyringPath(empty.data), gossip.FormatKeys([][]byte{k1}), 0o600); err != nil {
		t.Fatal(err)
	}
	if !gossipKeyConfigured(empty) {
		t.Error("a persisted keyring: not configured")
	}
}
