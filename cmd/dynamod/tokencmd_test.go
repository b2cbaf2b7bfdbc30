package main

import (
	"bytes"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// recorder is a fake node that records requests and answers token calls.
type recorder struct {
	mu   sync.Mutex
	reqs []string // "METHOD PATH AUTH BODY"
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")+" "+string(b))
	rc.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/admin/tokens" && r.Method == "POST":
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"id":"0123456789abcdef01234567","name":"ci","grants":["read:b"],"created":"2025-01-01T00:00:00Z","token":"dmd_SECRET"}`))
	case r.URL.Path == "/admin/tokens":
		_, _ = w.Write([]byte(`{"tokens":[{"id":"0123456789abcdef01234567","name":"ci","grants":["read:b"],"created":"2025-01-01T00:00:00Z","revoked":true}]}`))
	case strings.HasSuffix(r.URL.Path, "/grants"):
		_, _ = w.Write([]byte(`{"id":"0123456789abcdef01234567","name":"ci","grants":["read:b","write:b"],"created":"2025-01-01T00:00:00Z"}`))
	case strings.HasPrefix(r.URL.Path, "/admin/tokens/"):
		w.WriteHeader(204)
	case strings.HasPrefix(r.URL.Path, "/kv/"):
		w.WriteHeader(403)
		_, _ = w.Write([]byte(`{"error":"forbidden","detail":"the token lacks the grant write:b"}`))
	}
}

func (rc *recorder) last() string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.reqs) == 0 {
		return ""
	}
	return rc.reqs[len(rc.reqs)-1]
}

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// TestToken_commands: each verb sends its request with the token and
// prints the answer; create prints the token once.
func TestToken_commands(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	common := []string{"--node", srv.URL, "--token", "dmd_ADMIN"}

	code, out, _ := runCLI(append([]string{"token", "create", "--name", "ci", "--grant", "read:b"}, common...)...)
	if code != 0 || !strings.Contains(out, "dmd_SECRET") ||
		rc.last() != `POST /admin/tokens Bearer dmd_ADMIN {"grants":["read:b"],"name":"ci"}` {
		t.Errorf("create: exit %d, %q, sent %q", code, out, rc.last())
	}
	if code, out, _ := runCLI(append([]string{"token", "list"}, common...)...); code != 0 || !strings.Contains(out, "revoked") || strings.Contains(out, "SECRET") {
		t.Errorf("list: exit %d %q", code, out)
	}
	if code, _, _ := runCLI(append([]string{"token", "grant", "0123456789abcdef01234567", "write:b"}, common...)...); code != 0 ||
		rc.last() != `POST /admin/tokens/0123456789abcdef01234567/grants Bearer dmd_ADMIN {"grants":["write:b"]}` {
		t.Errorf("grant: exit %d, sent %q", code, rc.last())
	}
	if code, _, _ := runCLI(append([]string{"token", "ungrant", "0123456789abcdef01234567", "write:b"}, common...)...); code != 0 ||
		!strings.HasPrefix(rc.last(), "DELETE /admin/tokens/0123456789abcdef01234567/grants") {
		t.Errorf("ungrant: exit %d, sent %q", code, rc.last())
	}
	if code, out, _ := runCLI(append([]string{"token", "revoke", "0123456789abcdef01234567"}, common...)...); code != 0 || !strings.Contains(out, "revoked") ||
		rc.last() != "DELETE /admin/tokens/0123456789abcdef01234567 Bearer dmd_ADMIN " {
		t.Errorf("revoke: exit %d, sent %q", code, rc.last())
	}
	n := len(rc.reqs)
	for _, args := range [][]string{
		{"token"}, {"token", "bogus"}, {"token", "create"}, {"token", "list", "x"},
		{"token", "revoke"}, {"token", "grant", "id"}, {"token", "revoke", "id", "--grant", "read:b"},
	} {
		if code, _, errs := runCLI(append(args, common...)...); code != 2 || errs == "" {
			t.Errorf("%q: exit %d %q, want a usage error", args, code, errs)
		}
	}
	if len(rc.reqs) != n {
		t.Error("a usage error sent a request")
	}
}

// TestClientFlags_tokenAndCA: every client subcommand sends --token (or
// DYNAMOD_TOKEN), trusts --ca for https nodes, and reports a 403 clearly.
func TestClientFlags_tokenAndCA(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewTLSServer(rc)
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI("put", "b", "k", "v", "--node", srv.URL, "--ca", ca, "--token", "dmd_T")
	if code != 1 || !strings.Contains(errs, "403") || !strings.Contains(errs, "write:b") || rc.last() != "PUT /kv/b/k Bearer dmd_T v" {
		t.Errorf("put: exit %d %q, sent %q", code, errs, rc.last())
	}
	t.Setenv("DYNAMOD_TOKEN", "dmd_ENV")
	t.Setenv("DYNAMOD_CA", ca)
	runCLI("delete", "b", "k", "--node", srv.URL)
	if !strings.HasPrefix(rc.last(), "DELETE /kv/b/k Bearer dmd_ENV") {
		t.Errorf("DYNAMOD_TOKEN and DYNAMOD_CA not used: sent %q", rc.last())
	}
	t.Setenv("DYNAMOD_CA", "")
	os.Unsetenv("DYNAMOD_CA")
	if code, _, errs := runCLI("get", "b", "k", "--node", srv.URL); code != 1 || !strings.Contains(errs, "certificate") {
		t.Errorf("without the CA: exit %d %q", code, errs)
	}
	if code, _, _ := runCLI("get", "b", "k", "--node", srv.URL, "--ca", "/nonexistent"); code != 2 {
		t.Errorf("a missing CA file: exit %d, want 2", code)
	}
}
