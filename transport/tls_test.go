package transport

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynamod/dynamod/internal/pki"
)

// Mutual TLS with the cluster PKI (internal/pki), as dynamod serve runs it.

func newTestCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, _, err := pki.NewCA(0)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// writeTLSFiles writes, into dir, a CA bundle of bundle and a node
// certificate for name signed by signer; it returns the reloader config.
func writeTLSFiles(t *testing.T, dir, name string, signer *pki.CA, bundle ...*pki.CA) pki.ReloaderConfig {
	t.Helper()
	is, err := signer.IssueNode(name, []string{"127.0.0.1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var caPEM []byte
	for _, ca := range bundle {
		caPEM = append(caPEM, pemCert(ca)...)
	}
	cfg := pki.ReloaderConfig{
		CAFile: filepath.Join(dir, "ca.crt"), CertFile: filepath.Join(dir, "node.crt"), KeyFile: filepath.Join(dir, "node.key"),
		Interval: -1, Logger: testLogger(t),
	}
	for path, data := range map[string][]byte{cfg.CAFile: caPEM, cfg.CertFile: is.CertPEM, cfg.KeyFile: is.KeyPEM} {
		if err := pki.WriteFile(path, data, pki.KeyPerm, true); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

func pemCert(ca *pki.CA) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// nodeTLS returns a reloader for a node certificate of name signed by
// signer, trusting bundle.
func nodeTLS(t *testing.T, name string, signer *pki.CA, bundle ...*pki.CA) *pki.Reloader {
	t.Helper()
	r, err := pki.NewReloader(writeTLSFiles(t, t.TempDir(), name, signer, bundle...))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// withPKI sets a node's TLS from r, with pki's node-name rule.
func withPKI(r *pki.Reloader, more ...func(*Config)) func(*Config) {
	return func(c *Config) {
		c.TLS = r.TLSConfig()
		c.PeerName = pki.NodeName
		for _, m := range more {
			m(c)
		}
	}
}

func callerOnly(c *Config) { c.BindAddr = "" }

// countingEcho is echo that counts the requests it serves.
func countingEcho(n *atomic.Int64) HandlerFunc {
	return func(ctx context.Context, from string, kind uint8, body []byte) ([]byte, error) {
		n.Add(1)
		return echo(ctx, from, kind, body)
	}
}

func TestTLS_call(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	ca := newTestCA(t)
	a := startNode(t, r, "a", HandlerFunc(echo), withPKI(nodeTLS(t, "a", ca, ca)))
	b := startNode(t, r, "b", HandlerFunc(echo), withPKI(nodeTLS(t, "b", ca, ca)))
	ctx := t.Context()
	for range 3 {
		if got, err := a.Call(ctx, "b", 4, []byte("secret")); err != nil || string(got) != "a:4:secret" {
			t.Fatalf("a to b: %q, %v", got, err)
		}
		if got, err := b.Call(ctx, "a", 5, []byte("x")); err != nil || string(got) != "b:5:x" {
			t.Fatalf("b to a: %q, %v", got, err)
		}
	}
	for _, n := range []testNode{a, b} {
		for _, dir := range []string{"in", "out"} {
			if v := metric(t, n.reg, "dynamod_transport_tls_handshake_failures_total", "direction", dir); v != 0 {
				t.Errorf("%s failures counted on a good connection: %v", dir, v)
			}
		}
	}
}

// TestTLS_refused: nobody without a node certificate of the cluster CA gets
// a request served, and a node whose hello names another node than its
// certificate is refused.
func TestTLS_refused(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	ca := newTestCA(t)
	other := newTestCA(t)
	var served atomic.Int64
	b := startNode(t, r, "b", countingEcho(&served), withPKI(nodeTLS(t, "b", ca, ca)))
	good := nodeTLS(t, "m", ca, ca)

	clientIs, err := ca.IssueClient("m", 0)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := tls.X509KeyPair(clientIs.CertPEM, clientIs.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	withClientCert := func(cert *tls.Certificate) func(*Config) {
		return func(c *Config) {
			c.TLS.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
	}
	for _, tc := range []struct {
		name   string
		mod    func(*Config)
		reason string // counted by b as
	}{
		{"another CA's certificate", withPKI(nodeTLS(t, "m", other, other, ca), callerOnly), tlsHandshake},
		{"client certificate of the cluster CA", withPKI(good, callerOnly, withClientCert(&clientCert)), tlsHandshake},
		{"no certificate", withPKI(good, callerOnly, withClientCert(&tls.Certificate{})), tlsHandshake},
		{"hello names another node than the certificate", withPKI(good, callerOnly, func(c *Config) { c.Name = "a" }), tlsIdentity},
		{"plaintext", callerOnly, tlsHandshake},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := metric(t, b.reg, "dynamod_transport_tls_handshake_failures_total", "direction", "in", "reason", tc.reason)
			m := startNode(t, r, "m", nil, tc.mod)
			if _, err := m.Call(t.Context(), "b", 4, []byte("steal")); !errors.Is(err, ErrUnreachable) {
				t.Errorf("call: err = %v, want ErrUnreachable", err)
			}
			eventually(t, 5*time.Second, "b to count the refusal", func() bool {
				return metric(t, b.reg, "dynamod_transport_tls_handshake_failures_total", "direction", "in", "reason", tc.reason) > before
			})
		})
	}
	if served.Load() != 0 {
		t.Errorf("b served %d requests of refused peers", served.Load())
	}

	// The other way: a node does not talk to a server outside the cluster
	// PKI, nor to a plaintext one.
	a := startNode(t, r, "a", nil, withPKI(nodeTLS(t, "a", ca, ca), callerOnly))
	var strayServed atomic.Int64
	startNode(t, r, "stray", countingEcho(&strayServed), withPKI(nodeTLS(t, "stray", other, other, ca)))
	startNode(t, r, "plain", countingEcho(&strayServed), nil)
	for _, to := range []string{"stray", "plain"} {
		if _, err := a.Call(t.Context(), to, 4, []byte("secret")); !errors.Is(err, ErrUnreachable) {
			t.Errorf("call to %s: err = %v, want ErrUnreachable", to, err)
		}
	}
	if strayServed.Load() != 0 {
		t.Errorf("servers outside the PKI got %d requests", strayServed.Load())
	}
	if v := metric(t, a.reg, "dynamod_transport_tls_handshake_failures_total", "direction", "out", "reason", tlsHandshake); v < 1 {
		t.Errorf("a counted %v outbound handshake failures, want at least 1", v)
	}
}

// TestTLS_redirect: an address pointing at another node of the cluster
// (forged or stale gossip), whose hello claims the name dialed, gets no
// request: its certificate names another node.
func TestTLS_redirect(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	ca := newTestCA(t)
	a := startNode(t, r, "a", nil, withPKI(nodeTLS(t, "a", ca, ca), callerOnly))
	var impostorServed atomic.Int64
	// A real member, c, listening as "b".
	impostor := startNode(t, r, "b", countingEcho(&impostorServed), withPKI(nodeTLS(t, "c", ca, ca)))
	if _, err := a.Call(t.Context(), "b", 4, []byte("for b only")); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("call redirected to c: err = %v, want ErrUnreachable", err)
	}
	if impostorServed.Load() != 0 {
		t.Error("the impostor served the request")
	}
	if v := metric(t, a.reg, "dynamod_transport_tls_handshake_failures_total", "direction", "out", "reason", tlsIdentity); v != 1 {
		t.Errorf("out/identity failures = %v, want 1", v)
	}
	impostor.Close()

	// Once the address is b's own, calls go through.
	startNode(t, r, "b", HandlerFunc(echo), withPKI(nodeTLS(t, "b", ca, ca)))
	eventually(t, 5*time.Second, "a call to the real b", func() bool {
		got, err := a.Call(t.Context(), "b", 4, []byte("x"))
		return err == nil && string(got) == "a:4:x"
	})
}

// TestTLS_caRotation: a node trusting only the old CA refuses a node with
// a new-CA certificate; once the new CA is in its bundle and reloaded, the
// same transport (no restart, same tls.Config) lets it in both ways.
func TestTLS_caRotation(t *testing.T) {
	checkNoLeaks(t)
	r := newResolver()
	oldCA, newCA := newTestCA(t), newTestCA(t)
	dir := t.TempDir()
	aTLS, err := pki.NewReloader(writeTLSFiles(t, dir, "a", oldCA, oldCA))
	if err != nil {
		t.Fatal(err)
	}
	a := startNode(t, r, "a", HandlerFunc(echo), withPKI(aTLS))
	n := startNode(t, r, "n", HandlerFunc(echo), withPKI(nodeTLS(t, "n", newCA, oldCA, newCA)))
	ctx := t.Context()
	if _, err := n.Call(ctx, "a", 4, nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("new-CA node before the rotation: err = %v, want ErrUnreachable", err)
	}
	if _, err := a.Call(ctx, "n", 4, nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("call to the new-CA node before the rotation: err = %v, want ErrUnreachable", err)
	}

	writeTLSFiles(t, dir, "a", oldCA, oldCA, newCA)
	if err := aTLS.Reload(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the new-CA node's call", func() bool {
		got, err := n.Call(ctx, "a", 4, []byte("in"))
		return err == nil && string(got) == "n:4:in"
	})
	eventually(t, 5*time.Second, "a call to the new-CA node", func() bool {
		got, err := a.Call(ctx, "n", 4, []byte("out"))
		return err == nil && string(got) == "a:4:out"
	})
}

// TestTLS_idle: over TLS too, the idle deadline may pass while a request
// runs (the read that timed out is retried: a TLS read timeout is not
// fatal), an idle connection is closed with a goaway, and the next call
// dials again.
func TestTLS_idle(t *testing.T) {
	checkNoLeaks(t)
	ca := newTestCA(t)
	r := newResolver()
	const idle = 100 * time.Millisecond
	slow := HandlerFunc(func(ctx context.Context, from string, kind uint8, body []byte) ([]byte, error) {
		// Runs three idle timeouts: part of the workload.
		timer := time.NewTimer(3 * idle)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return echo(ctx, from, kind, body)
	})
	srv := startNode(t, r, "srv", slow, withPKI(nodeTLS(t, "srv", ca, ca), func(c *Config) { c.IdleTimeout = idle }))
	a := startNode(t, r, "a", nil, withPKI(nodeTLS(t, "a", ca, ca), callerOnly))
	for i := range 2 {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		got, err := a.Call(ctx, "srv", 1, []byte("x"))
		cancel()
		if err != nil || string(got) != "a:1:x" {
			t.Fatalf("call %d: %q, %v", i, got, err)
		}
		if i == 0 {
			eventually(t, 5*time.Second, "the idle connection to be closed", func() bool {
				return metric(t, srv.reg, "dynamod_transport_idle_closed_total") == 1
			})
		}
	}
	if n := metric(t, a.reg, "dynamod_transport_dials_total", "result", "ok"); n != 2 {
		t.Errorf("dials = %v, want 2 (one per idle period)", n)
	}
}
