package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// nodeFiles are the three files of one node.
type nodeFiles struct{ ca, cert, key string }

// writeNode writes a bundle of cas and a node certificate for name issued
// by signer into dir (replacing what is there).
func writeNode(t *testing.T, dir, name string, signer *CA, cas ...*CA) nodeFiles {
	t.Helper()
	is, err := signer.IssueNode(name, []string{"127.0.0.1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var bundle []byte
	for _, ca := range cas {
		bundle = append(bundle, encodeCert(ca.Cert.Raw)...)
	}
	f := nodeFiles{filepath.Join(dir, "ca.crt"), filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key")}
	for path, data := range map[string][]byte{f.ca: bundle, f.cert: is.CertPEM, f.key: is.KeyPEM} {
		if err := WriteFile(path, data, KeyPerm, true); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func newReloader(t *testing.T, f nodeFiles, mod func(*ReloaderConfig)) *Reloader {
	t.Helper()
	cfg := ReloaderConfig{CAFile: f.ca, CertFile: f.cert, KeyFile: f.key, Interval: -1,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
	if mod != nil {
		mod(&cfg)
	}
	r, err := NewReloader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// handshake runs a TLS handshake between server and client configs over an
// in-memory pipe and returns each side's error. The client also reads a
// byte the server sends once it accepted the client: in TLS 1.3 the
// client's handshake ends before the server has checked its certificate.
func handshake(t *testing.T, server, client *tls.Config) (serverErr, clientErr error) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	deadline := time.Now().Add(5 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	srvDone := make(chan error, 1)
	go func() {
		s := tls.Server(a, server)
		err := s.Handshake()
		if err == nil {
			_, err = s.Write([]byte{1})
		}
		a.Close()
		srvDone <- err
	}()
	c := tls.Client(b, client)
	clientErr = c.Handshake()
	if clientErr == nil {
		_, clientErr = io.ReadFull(c, make([]byte, 1))
	}
	b.Close()
	return <-srvDone, clientErr
}

func TestReloader_handshake(t *testing.T) {
	ca, _ := newCA(t)
	other, _ := newCA(t)
	r1 := newReloader(t, writeNode(t, t.TempDir(), "n1", ca, ca), nil)
	r2 := newReloader(t, writeNode(t, t.TempDir(), "n2", ca, ca), nil)
	if r1.NodeName() != "n1" {
		t.Errorf("NodeName = %q", r1.NodeName())
	}
	if s, c := handshake(t, r1.TLSConfig(), r2.TLSConfig()); s != nil || c != nil {
		t.Fatalf("n2 to n1: server %v, client %v", s, c)
	}

	// Peers that are not nodes of this CA, as servers and as clients.
	otherNode := newReloader(t, writeNode(t, t.TempDir(), "n3", other, other), nil)
	clientIs, err := ca.IssueClient("alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := tls.X509KeyPair(clientIs.CertPEM, clientIs.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	withCert := func(cert *tls.Certificate) *tls.Config {
		c := r2.TLSConfig()
		c.GetCertificate = nil
		c.GetClientCertificate = nil
		if cert != nil {
			c.Certificates = []tls.Certificate{*cert}
		}
		return c
	}
	// A certificate with both usages but marked client (not made by
	// dynamod certs): the organizational unit decides.
	forged, err := ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "n9", OrganizationalUnit: []string{ClientOU, NodeOU}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	forgedCert, err := tls.X509KeyPair(forged.CertPEM, forged.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		peer *tls.Config
	}{
		{"other CA", otherNode.TLSConfig()},
		{"client certificate", withCert(&clientCert)},
		{"client-marked certificate with both usages", withCert(&forgedCert)},
		{"no certificate", withCert(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, c := handshake(t, r1.TLSConfig(), tc.peer); s == nil || c == nil {
				t.Errorf("as client: server err %v, client err %v; want both failed", s, c)
			}
			if tc.name == "no certificate" {
				return // a TLS server always has one
			}
			if _, c := handshake(t, tc.peer, r1.TLSConfig()); c == nil {
				t.Error("as server: the node accepted it")
			}
		})
	}
}

func TestReloader_refusesBadMaterial(t *testing.T) {
	ca, _ := newCA(t)
	other, _ := newCA(t)
	good := writeNode(t, t.TempDir(), "n1", ca, ca)
	for _, tc := range []struct {
		name string
		cfg  func() ReloaderConfig
		want string
	}{
		{"another node's certificate", func() ReloaderConfig {
			return ReloaderConfig{CAFile: good.ca, CertFile: good.cert, KeyFile: good.key, Name: "n2"}
		}, `is for node "n1"`},
		{"certificate of another CA", func() ReloaderConfig {
			f := writeNode(t, t.TempDir(), "n1", other, ca)
			return ReloaderConfig{CAFile: f.ca, CertFile: f.cert, KeyFile: f.key}
		}, "does not chain"},
		{"key of another certificate", func() ReloaderConfig {
			f := writeNode(t, t.TempDir(), "n1", ca, ca)
			return ReloaderConfig{CAFile: f.ca, CertFile: f.cert, KeyFile: good.key}
		}, "key"},
		{"client certificate", func() ReloaderConfig {
			f := writeNode(t, t.TempDir(), "n1", ca, ca)
			is, err := ca.IssueClient("n1", 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteFile(f.cert, is.CertPEM, CertPerm, true); err != nil {
				t.Fatal(err)
			}
			if err := WriteFile(f.key, is.KeyPEM, KeyPerm, true); err != nil {
				t.Fatal(err)
			}
			return ReloaderConfig{CAFile: f.ca, CertFile: f.cert, KeyFile: f.key}
		}, "client certificate"},
		{"node certificate as CA", func() ReloaderConfig {
			return ReloaderConfig{CAFile: good.cert, CertFile: good.cert, KeyFile: good.key}
		}, "not a CA"},
		{"missing file", func() ReloaderConfig {
			return ReloaderConfig{CAFile: good.ca, CertFile: good.cert + ".missing", KeyFile: good.key}
		}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewReloader(tc.cfg())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestReloader_rotation rotates the CA the documented way and checks at
// each step who a node accepts, without a new Reloader or tls.Config.
func TestReloader_rotation(t *testing.T) {
	oldCA, _ := newCA(t)
	newCA, _ := newCA(t)
	dir := t.TempDir()
	var ok, failed atomic.Int64
	r := newReloader(t, writeNode(t, dir, "n1", oldCA, oldCA), func(c *ReloaderConfig) {
		c.OnReload = func(err error) {
			if err != nil {
				failed.Add(1)
			} else {
				ok.Add(1)
			}
		}
	})
	srv := r.TLSConfig() // one config for the whole test, as a listener keeps it
	newPeer := newReloader(t, writeNode(t, t.TempDir(), "n2", newCA, oldCA, newCA), nil)
	oldPeer := newReloader(t, writeNode(t, t.TempDir(), "n3", oldCA, oldCA, newCA), nil)
	if s, _ := handshake(t, srv, newPeer.TLSConfig()); s == nil {
		t.Fatal("a new-CA node got in before its CA was in the bundle")
	}

	// Step 1: both CAs in the bundle, the node's certificate still old.
	writeNode(t, dir, "n1", oldCA, oldCA, newCA)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if len(r.CAs()) != 2 {
		t.Errorf("%d CAs after reload, want 2", len(r.CAs()))
	}
	for name, peer := range map[string]*Reloader{"new-CA node": newPeer, "old-CA node": oldPeer} {
		if s, c := handshake(t, srv, peer.TLSConfig()); s != nil || c != nil {
			t.Errorf("%s with both CAs: server %v, client %v", name, s, c)
		}
	}

	// A broken certificate file keeps the last good material.
	before := r.Certificate()
	if err := WriteFile(filepath.Join(dir, "node.crt"), []byte("-----BEGIN CERTIFICATE-----\nbroken\n"), CertPerm, true); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil {
		t.Fatal("reload of a broken certificate succeeded")
	}
	if r.Certificate() != before {
		t.Error("a failed reload replaced the certificate")
	}
	if s, c := handshake(t, srv, newPeer.TLSConfig()); s != nil || c != nil {
		t.Errorf("after a failed reload: server %v, client %v", s, c)
	}

	// Step 2 and 3: new certificate, then the old CA removed. The old
	// certificate no longer chains, so removing the CA first is refused.
	writeNode(t, dir, "n1", oldCA, newCA)
	if err := r.Reload(); err == nil || !strings.Contains(err.Error(), "does not chain") {
		t.Errorf("reload with the old CA removed before reissuing: %v", err)
	}
	writeNode(t, dir, "n1", newCA, newCA)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if r.Certificate() == before || !bytes.Equal(r.CAs()[0].Raw, newCA.Cert.Raw) {
		t.Error("certificate or bundle not replaced")
	}
	if s, _ := handshake(t, srv, oldPeer.TLSConfig()); s == nil {
		t.Error("an old-CA node got in after the old CA was removed")
	}
	if s, c := handshake(t, srv, newPeer.TLSConfig()); s != nil || c != nil {
		t.Errorf("new-CA node after rotation: server %v, client %v", s, c)
	}
	if ok.Load() != 2 || failed.Load() != 2 {
		t.Errorf("OnReload saw %d good and %d failed reloads, want 2 and 2", ok.Load(), failed.Load())
	}
}

// TestReloader_polls: Run picks up changed files by itself.
func TestReloader_polls(t *testing.T) {
	ca, _ := newCA(t)
	dir := t.TempDir()
	r := newReloader(t, writeNode(t, dir, "n1", ca, ca), func(c *ReloaderConfig) { c.Interval = 5 * time.Millisecond })
	done := make(chan struct{})
	go func() { defer close(done); r.Run(t.Context()) }()
	t.Cleanup(func() { <-done }) // t.Context ends before cleanups run
	before := r.Certificate()
	writeNode(t, dir, "n1", ca, ca)
	waitFor(t, "the new certificate", func() bool { return r.Certificate() != before })
}

// TestReloader_pollReportsOnce: a poll attempts changed files once; broken
// files that stay the same are not attempted (nor logged) again.
func TestReloader_pollReportsOnce(t *testing.T) {
	ca, _ := newCA(t)
	dir := t.TempDir()
	var attempts, failed atomic.Int64
	r := newReloader(t, writeNode(t, dir, "n1", ca, ca), func(c *ReloaderConfig) {
		c.OnReload = func(err error) {
			attempts.Add(1)
			if err != nil {
				failed.Add(1)
			}
		}
	})
	if err := r.reload("file change", false); err != nil || attempts.Load() != 0 {
		t.Fatalf("poll of unchanged files: %v, %d attempts", err, attempts.Load())
	}
	if err := WriteFile(filepath.Join(dir, "node.key"), []byte("garbage"), KeyPerm, true); err != nil {
		t.Fatal(err)
	}
	if err := r.reload("file change", false); err == nil {
		t.Fatal("poll of a broken key succeeded")
	}
	if err := r.reload("file change", false); err != nil {
		t.Errorf("second poll of the same broken key: %v", err)
	}
	if attempts.Load() != 1 || failed.Load() != 1 {
		t.Errorf("%d attempts, %d failed; want 1 and 1", attempts.Load(), failed.Load())
	}
	if err := r.Reload(); err == nil || failed.Load() != 2 {
		t.Errorf("Reload of the broken key: %v (a signal always tries again)", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling, bounded by the deadline
	}
}
