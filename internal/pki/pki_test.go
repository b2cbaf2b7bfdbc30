package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func newCA(t *testing.T) (*CA, Issued) {
	t.Helper()
	ca, files, err := NewCA(0)
	if err != nil {
		t.Fatal(err)
	}
	return ca, files
}

func parseLeaf(t *testing.T, is Issued) *x509.Certificate {
	t.Helper()
	certs, err := ParseCerts(is.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(is.CertPEM, is.KeyPEM); err != nil {
		t.Fatalf("issued key does not match its certificate: %v", err)
	}
	return certs[0]
}

func poolOf(cas ...*CA) *x509.CertPool {
	p := x509.NewCertPool()
	for _, ca := range cas {
		p.AddCert(ca.Cert)
	}
	return p
}

func TestIssueNode(t *testing.T) {
	ca, caFiles := newCA(t)
	if got, err := ParseCA(caFiles.CertPEM, caFiles.KeyPEM); err != nil || !got.Cert.Equal(ca.Cert) {
		t.Fatalf("ParseCA of the new CA: %v", err)
	}
	if time.Until(ca.Cert.NotAfter) < 9*365*24*time.Hour {
		t.Errorf("CA valid until %v, want about ten years", ca.Cert.NotAfter)
	}
	is, err := ca.IssueNode("n1", []string{"db1.example", "10.0.0.7", " ::1 ", ""}, 0)
	if err != nil {
		t.Fatal(err)
	}
	leaf := parseLeaf(t, is)
	if name, err := NodeName(leaf); err != nil || name != "n1" {
		t.Errorf("NodeName = %q, %v; want n1", name, err)
	}
	if !slices.Equal(leaf.DNSNames, []string{"n1", "db1.example"}) {
		t.Errorf("DNS SANs = %v", leaf.DNSNames)
	}
	if len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.ParseIP("10.0.0.7")) || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IP SANs = %v", leaf.IPAddresses)
	}
	if err := verifyChain(poolOf(ca), leaf, nil); err != nil {
		t.Errorf("node certificate does not verify for server and client use: %v", err)
	}

	// A name that is no host name is the CommonName only.
	is, err = ca.IssueNode("node one", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if leaf := parseLeaf(t, is); len(leaf.DNSNames) != 0 || time.Until(leaf.NotAfter) > 2*time.Hour {
		t.Errorf("DNS SANs %v, not after %v", leaf.DNSNames, leaf.NotAfter)
	}
	for _, bad := range []struct {
		name  string
		hosts []string
	}{
		{"", nil},
		{strings.Repeat("x", 256), nil},
		{"\xff", nil},
		{"n1", []string{"not a host"}},
	} {
		if _, err := ca.IssueNode(bad.name, bad.hosts, 0); err == nil {
			t.Errorf("IssueNode(%q, %q) succeeded", bad.name, bad.hosts)
		}
	}
}

func TestNodeName_refusesClientAndCA(t *testing.T) {
	ca, _ := newCA(t)
	is, err := ca.IssueClient("alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	client := parseLeaf(t, is)
	if _, err := NodeName(client); !errors.Is(err, ErrNotNode) {
		t.Errorf("NodeName(client certificate) err = %v, want ErrNotNode", err)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: poolOf(ca), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("a client certificate verifies for server use")
	}
	if _, err := NodeName(ca.Cert); !errors.Is(err, ErrNotNode) {
		t.Errorf("NodeName(CA) err = %v, want ErrNotNode", err)
	}
}

func TestParseCA_refusesMismatch(t *testing.T) {
	_, a := newCA(t)
	_, b := newCA(t)
	if _, err := ParseCA(a.CertPEM, b.KeyPEM); err == nil {
		t.Error("ParseCA accepted another CA's key")
	}
	// In a bundle, the CA is the certificate of the key.
	bundle := append(append([]byte(nil), a.CertPEM...), b.CertPEM...)
	if ca, err := ParseCA(bundle, b.KeyPEM); err != nil || !bytes.Equal(ca.Cert.Raw, mustCerts(t, b.CertPEM)[0].Raw) {
		t.Errorf("ParseCA of a bundle with the second CA's key: %v", err)
	}
	node, _ := newCA(t)
	is, err := node.IssueNode("n1", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCA(is.CertPEM, is.KeyPEM); err == nil {
		t.Error("ParseCA accepted a node certificate")
	}
	if _, err := ParseCerts([]byte("junk")); !errors.Is(err, ErrBadPEM) {
		t.Errorf("ParseCerts(junk) err = %v, want ErrBadPEM", err)
	}
}

func mustCerts(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	certs, err := ParseCerts(data)
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	crt := filepath.Join(dir, "c")
	if err := WriteFile(key, []byte("secret"), KeyPerm, false); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(crt, []byte("public"), CertPerm, false); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{key: 0o600, crt: 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	if err := WriteFile(key, []byte("other"), KeyPerm, false); !errors.Is(err, os.ErrExist) {
		t.Errorf("overwrite without force: err = %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(key); string(b) != "secret" {
		t.Errorf("refused overwrite changed the file: %q", b)
	}
	if err := WriteFile(key, []byte("other"), KeyPerm, true); err != nil {
		t.Fatalf("forced overwrite: %v", err)
	}
	if b, _ := os.ReadFile(key); string(b) != "other" {
		t.Errorf("forced overwrite: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("%d entries in the directory, want 2 (no temporary file left)", len(ents))
	}
}

func TestNewGossipKey(t *testing.T) {
	a, err := NewGossipKey()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewGossipKey()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(a)))
	if err != nil || len(raw) != GossipKeyLen {
		t.Fatalf("gossip key %q: %d bytes, %v", a, len(raw), err)
	}
	if string(a) == string(b) {
		t.Error("two gossip keys are equal")
	}
}
