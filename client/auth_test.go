package client

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// TestClient_tokenAndTLS: the token goes in the Authorization header of
// every request, over HTTPS verified against a CA file.
func TestClient_tokenAndTLS(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tc, err := LoadCA(ca)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New([]string{srv.URL}, WithToken("dmd_abc_def"), WithTLSConfig(tc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(context.Background(), "b", "k", "", []byte("v"), nil); err != nil {
		t.Fatal(err)
	}
	if h := got.Load(); h != "Bearer dmd_abc_def" {
		t.Errorf("Authorization = %q", h)
	}
	// Without the CA the server's certificate is not trusted.
	plain, _ := New([]string{srv.URL}, WithRetries(0))
	if _, err := plain.Put(context.Background(), "b", "k", "", []byte("v"), nil); err == nil {
		t.Error("a client without the CA trusted the server")
	}
}

// TestClient_authErrorsNotRetried: 401 and 403 surface as ErrUnauthorized
// and ErrForbidden from the first node, without trying another.
func TestClient_authErrorsNotRetried(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   error
	}{{401, ErrUnauthorized}, {403, ErrForbidden}} {
		var hits atomic.Int64
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tc.status)
			_, _ = w.Write([]byte(`{"error":"nope","detail":"the token lacks the grant write:b"}`))
		})
		a, b := httptest.NewServer(h), httptest.NewServer(h)
		c, err := New([]string{a.URL, b.URL}, WithToken("t"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Put(context.Background(), "b", "k", "", []byte("v"), nil)
		var e *Error
		if !errors.Is(err, tc.want) || !errors.As(err, &e) || e.Status != tc.status {
			t.Errorf("%d: err = %v, want %v", tc.status, err, tc.want)
		}
		if errors.Is(err, ErrUnavailable) || hits.Load() != 1 {
			t.Errorf("%d: %d nodes asked, want 1", tc.status, hits.Load())
		}
		a.Close()
		b.Close()
	}
}

func TestClient_authOptionErrors(t *testing.T) {
	if _, err := New([]string{"http://x:1"}, WithToken("a b")); err == nil {
		t.Error("a token with a space was accepted")
	}
	if _, err := New([]string{"http://x:1"}, WithTLSConfig(nil), WithHTTPClient(http.DefaultClient)); err != nil {
		t.Errorf("a nil TLS config is no TLS config: %v", err)
	}
	tc, _ := LoadCA("/nonexistent")
	if tc != nil {
		t.Error("LoadCA of a missing file")
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	_ = os.WriteFile(bad, []byte("not pem"), 0o600)
	if _, err := LoadCA(bad); err == nil {
		t.Error("LoadCA of a file without PEM succeeded")
	}
	if _, err := New([]string{"https://x:1"}, WithTLSConfig(&tls.Config{}), WithHTTPClient(http.DefaultClient)); err == nil {
		t.Error("WithTLSConfig with WithHTTPClient was accepted")
	}
}

// TestClient_tokenCalls: the token-management calls send what the API
// takes and decode what it answers.
func TestClient_tokenCalls(t *testing.T) {
	var last atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		last.Store(r.Method + " " + r.URL.Path + " " + string(b))
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "POST" && r.URL.Path == "/admin/tokens":
			w.WriteHeader(201)
			_, _ = w.Write([]byte(`{"id":"0123","name":"ci","grants":["read:b"],"created":"2025-01-01T00:00:00Z","token":"dmd_0123_x"}`))
		case r.Method == "GET":
			_, _ = w.Write([]byte(`{"tokens":[{"id":"0123","name":"ci","grants":[],"created":"2025-01-01T00:00:00Z","revoked":true}]}`))
		case r.Method == "DELETE" && r.URL.Path == "/admin/tokens/0123":
			w.WriteHeader(204)
		default:
			_, _ = w.Write([]byte(`{"id":"0123","name":"ci","grants":["write:b"],"created":"2025-01-01T00:00:00Z"}`))
		}
	}))
	defer srv.Close()
	c, _ := New([]string{srv.URL})
	ctx := context.Background()
	tok, err := c.CreateToken(ctx, "ci", []string{"read:b"})
	if err != nil || tok.Secret != "dmd_0123_x" || last.Load() != `POST /admin/tokens {"grants":["read:b"],"name":"ci"}` {
		t.Errorf("create: %+v %v %v", tok, err, last.Load())
	}
	ts, err := c.Tokens(ctx)
	if err != nil || len(ts) != 1 || !ts[0].Revoked {
		t.Errorf("list: %+v %v", ts, err)
	}
	if tok, err := c.GrantToken(ctx, "0123", "write:b"); err != nil || tok.Grants[0] != "write:b" || last.Load() != `POST /admin/tokens/0123/grants {"grants":["write:b"]}` {
		t.Errorf("grant: %+v %v %v", tok, err, last.Load())
	}
	if _, err := c.UngrantToken(ctx, "0123", "read:b"); err != nil || last.Load() != `DELETE /admin/tokens/0123/grants {"grants":["read:b"]}` {
		t.Errorf("ungrant: %v %v", err, last.Load())
	}
	if err := c.RevokeToken(ctx, "0123"); err != nil || last.Load() != `DELETE /admin/tokens/0123 ` {
		t.Errorf("revoke: %v %v", err, last.Load())
	}
	if err := c.RevokeToken(ctx, ""); !errors.Is(err, ErrBadRequest) {
		t.Errorf("revoke of an empty id: %v", err)
	}
}
