package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dynamod/dynamod/client"
)

// TestAuth_tokens runs issue 11's token checks against three real
// processes: the first token comes from the admin listener without one; a
// token with read:b alone reads but its PUT is 403 and changes nothing;
// a token revoked on n1 is refused by every node within one second of the
// revocation's answer.
func TestAuth_tokens(t *testing.T) {
	needBinary(t)
	ps := startCluster(t, 3)
	ctx := t.Context()

	// Bootstrap: the admin listener needs no token.
	out, code := cli(t, "token", "create", "--node", ps[0].adminURL(), "--name", "root", "--grant", "admin")
	if code != 0 {
		t.Fatalf("token create on the admin listener: exit %d: %s", code, out)
	}
	root := tokenIn(t, out)
	// Tokens exist now: the loopback client API (--client-auth auto)
	// requires one, on every node once the token has spread.
	for _, p := range ps {
		eventually(t, 5*time.Second, func() string {
			if resp, _ := do(t, "GET", p.url()+"/kv/b/k", "", nil); resp.StatusCode != 401 {
				return p.name + " answers " + resp.Status + " without a token"
			}
			return ""
		})
		if resp, _ := do(t, "GET", p.url()+"/ready", "", nil); resp.StatusCode != 200 {
			t.Errorf("%s: /ready with tokens and no token: %s", p.name, resp.Status)
		}
	}
	// /metrics is on the admin listener only.
	if resp, _ := do(t, "GET", ps[0].url()+"/metrics", "", map[string]string{"Authorization": "Bearer " + root}); resp.StatusCode != 404 {
		t.Errorf("/metrics on the client API: %s, want 404", resp.Status)
	}
	if !strings.Contains(ps[0].metrics(t), "dynamod_http_requests_total") {
		t.Error("the admin listener's /metrics lacks the client API's counters")
	}

	admin := newClient(t, ps, root)
	if _, err := admin.Put(ctx, "b", "k", "", []byte("v1"), &client.WriteOptions{W: "all"}); err != nil {
		t.Fatal(err)
	}
	created, err := admin.CreateToken(ctx, "reader", []string{"read:b"})
	if err != nil {
		t.Fatal(err)
	}
	reader := newClient(t, ps[1:2], created.Secret) // another node than the one that made it
	eventually(t, 5*time.Second, func() string {
		if _, err := reader.Get(ctx, "b", "k", nil); err != nil {
			return "reader on n2: " + err.Error()
		}
		return ""
	})
	_, err = reader.Put(ctx, "b", "k", "", []byte("v2"), nil)
	if !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("reader's PUT: %v, want 403", err)
	}
	if _, err := reader.Put(ctx, "other", "k", "", []byte("v2"), nil); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("reader's PUT to another bucket: %v, want 403", err)
	}
	for _, p := range ps {
		obj, err := newClient(t, []*proc{p}, root).Get(ctx, "b", "k", &client.ReadOptions{R: "all"})
		if err != nil || len(obj.Siblings) != 1 || string(obj.Siblings[0].Value) != "v1" {
			t.Fatalf("%s after the refused PUT: %+v %v, want v1 alone", p.name, obj, err)
		}
	}
	if _, err := reader.Keys(ctx, "b"); err != nil {
		t.Errorf("reader lists b: %v", err)
	}
	if _, err := reader.Status(ctx); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("reader reads /cluster: %v, want 403", err)
	}

	// Revocation on n1 reaches every node within a second of its answer.
	// Every node accepts the token first.
	for _, p := range ps {
		eventually(t, 5*time.Second, func() string {
			if _, err := newClient(t, []*proc{p}, created.Secret).Get(ctx, "b", "k", nil); err != nil {
				return p.name + ": " + err.Error()
			}
			return ""
		})
	}
	if err := newClient(t, ps[:1], root).RevokeToken(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	deadline := revoked.Add(time.Second)
	for _, p := range ps {
		c := newClient(t, []*proc{p}, created.Secret)
		for {
			_, err := c.Get(ctx, "b", "k", nil)
			if errors.Is(err, client.ErrUnauthorized) {
				t.Logf("%s refuses the revoked token %v after the revocation's answer", p.name, time.Since(revoked).Round(time.Millisecond))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still accepts the revoked token %v after the revocation (err %v)", p.name, time.Since(revoked), err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	out, code = cli(t, "token", "list", "--node", ps[2].url(), "--token", root)
	if code != 0 || !strings.Contains(out, created.ID) || !strings.Contains(out, "revoked") || strings.Contains(out, created.Secret) {
		t.Errorf("token list on n3: exit %d\n%s", code, out)
	}
}

// TestAuth_https serves the client API over HTTPS: the Go client and the
// CLI reach it with the CA file, and not without it.
func TestAuth_https(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	ca, cert, key := selfSigned(t, dir)
	p := newProc(t, "tls", "--http-tls-cert", cert, "--http-tls-key", key)
	p.https = true
	p.start()
	ctx := t.Context()

	tc, err := client.LoadCA(ca)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New([]string{p.url()}, client.WithTLSConfig(tc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "b", "k", "", []byte("over tls"), nil); err != nil {
		t.Fatalf("put over https: %v", err)
	}
	out, code := cli(t, "get", "b", "k", "--node", p.url(), "--ca", ca)
	if code != 0 || !strings.Contains(out, "over tls") {
		t.Fatalf("dynamod get over https: exit %d: %s", code, out)
	}
	if out, code := cli(t, "get", "b", "k", "--node", p.url()); code == 0 {
		t.Errorf("dynamod get without the CA succeeded: %s", out)
	}
	if _, body := do(t, "GET", "http://"+strings.TrimPrefix(p.url(), "https://")+"/ping", "", nil); strings.Contains(body, "OK") {
		t.Error("the HTTPS port answers plain HTTP")
	}
}

// newClient returns a client of the nodes with token.
func newClient(t testing.TB, ps []*proc, token string) *client.Client {
	t.Helper()
	var urls []string
	for _, p := range ps {
		urls = append(urls, p.url())
	}
	c, err := client.New(urls, client.WithToken(token), client.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tokenIn finds the token in dynamod token create's output.
func tokenIn(t testing.TB, out string) string {
	t.Helper()
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "dmd_") {
			return f
		}
	}
	t.Fatalf("no token in %q", out)
	return ""
}

// selfSigned writes a self-signed CA certificate for 127.0.0.1 and its
// key; the certificate is its own CA file.
func selfSigned(t testing.TB, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dynamod e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, certFile, keyFile
}
