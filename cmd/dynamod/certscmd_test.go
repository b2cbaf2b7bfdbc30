package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dynamod/dynamod/internal/pki"
)

// runCmd runs the binary's run with args and returns the exit code and
// the output.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestCerts_init: init makes a CA, one node certificate per name and a
// gossip key, with safe modes, usable by a node; run again it keeps every
// file.
func TestCerts_init(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	code, out, errOut := runCmd(t, "certs", "init", "--dir", dir, "--nodes", "n1, n2,n3", "--host", "127.0.0.1,db.example")
	if code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	modes := map[string]os.FileMode{"ca.crt": 0o644, "ca.key": 0o600, "gossip.key": 0o600}
	for _, n := range []string{"n1", "n2", "n3"} {
		modes["node-"+n+".crt"] = 0o644
		modes["node-"+n+".key"] = 0o600
	}
	first := map[string][]byte{}
	for name, want := range modes {
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), want)
		}
		first[name], _ = os.ReadFile(path)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != len(modes) {
		t.Errorf("%d files in %s, want %d", len(ents), dir, len(modes))
	}
	r, err := pki.NewReloader(pki.ReloaderConfig{
		CAFile: filepath.Join(dir, "ca.crt"), CertFile: filepath.Join(dir, "node-n2.crt"), KeyFile: filepath.Join(dir, "node-n2.key"),
		Name: "n2", Interval: -1,
	})
	if err != nil {
		t.Fatalf("a node cannot use the files: %v", err)
	}
	leaf := r.Certificate().Leaf
	if strings.Join(leaf.DNSNames, ",") != "n2,db.example" || len(leaf.IPAddresses) != 1 {
		t.Errorf("node-n2 SANs: DNS %v, IP %v", leaf.DNSNames, leaf.IPAddresses)
	}

	// Again, with one more node: the existing files are kept, the new
	// node's certificate is signed by the same CA.
	code, out, errOut = runCmd(t, "certs", "init", "--dir", dir, "--nodes", "n1,n2,n3,n4")
	if code != 0 {
		t.Fatalf("second init: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "kept") {
		t.Errorf("second init does not say it kept the files:\n%s", out)
	}
	for name, data := range first {
		if now, _ := os.ReadFile(filepath.Join(dir, name)); !bytes.Equal(now, data) {
			t.Errorf("%s changed on the second init", name)
		}
	}
	if _, err := pki.NewReloader(pki.ReloaderConfig{
		CAFile: filepath.Join(dir, "ca.crt"), CertFile: filepath.Join(dir, "node-n4.crt"), KeyFile: filepath.Join(dir, "node-n4.key"),
		Name: "n4", Interval: -1,
	}); err != nil {
		t.Errorf("node added by the second init: %v", err)
	}

	// Half a pair is not papered over.
	if err := os.Remove(filepath.Join(dir, "node-n1.key")); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut = runCmd(t, "certs", "init", "--dir", dir, "--nodes", "n1"); code != 1 || !strings.Contains(errOut, "missing") {
		t.Errorf("init with node-n1.key missing: exit %d, %s", code, errOut)
	}
}

func TestCerts_actions(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runCmd(t, "certs", "node", "--dir", dir, "--name", "n1"); code != 1 || !strings.Contains(errOut, "dynamod certs ca") {
		t.Errorf("node without a CA: exit %d, %s", code, errOut)
	}
	if code, out, errOut := runCmd(t, "certs", "ca", "--dir", dir); code != 0 {
		t.Fatalf("ca: exit %d %s%s", code, out, errOut)
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if code, _, errOut := runCmd(t, "certs", "ca", "--dir", dir); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("second ca: exit %d, %s", code, errOut)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "ca.crt")); !bytes.Equal(now, caPEM) {
		t.Error("a refused ca replaced ca.crt")
	}
	for _, args := range [][]string{
		{"certs", "node", "--dir", dir, "--name", "n1", "--host", "10.1.2.3"},
		{"certs", "client", "--dir", dir, "--name", "alice"},
		{"certs", "gossip-key", "--dir", dir},
		{"certs", "node", "--dir", dir, "--name", "n1", "--force"},
		{"certs", "ca", "--dir", dir, "--force"},
	} {
		if code, out, errOut := runCmd(t, args...); code != 0 {
			t.Errorf("%q: exit %d %s%s", args, code, out, errOut)
		}
	}
	clientPEM, _ := os.ReadFile(filepath.Join(dir, "client-alice.crt"))
	certs, err := pki.ParseCerts(clientPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pki.NodeName(certs[0]); err == nil {
		t.Error("the client certificate passes as a node certificate")
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "ca.crt")); bytes.Equal(now, caPEM) {
		t.Error("ca --force did not replace ca.crt")
	}
}

func TestCerts_usage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"certs"},
		{"certs", "bogus"},
		{"certs", "node", "--dir", dir},
		{"certs", "node", "--dir", dir, "--name", "../escape"},
		{"certs", "client", "--dir", dir},
		{"certs", "init", "--dir", dir},
		{"certs", "init", "--dir", dir, "--nodes", "a,b", "--force"},
		{"certs", "ca", "--dir", dir, "--days", "0"},
		{"certs", "ca", "--dir", dir, "extra"},
	} {
		if code, _, errOut := runCmd(t, args...); code != 2 || errOut == "" {
			t.Errorf("%q: exit %d (%q), want 2 with a message", args, code, errOut)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("usage errors wrote %d files", len(ents))
	}
}

// TestServe_tlsFlags: the three TLS flags go together, and material that
// cannot be used stops the start with the reason, before the data
// directory is touched.
func TestServe_tlsFlags(t *testing.T) {
	certs := t.TempDir()
	if code, out, errOut := runCmd(t, "certs", "init", "--dir", certs, "--nodes", "n1,n2"); code != 0 {
		t.Fatalf("init: exit %d %s%s", code, out, errOut)
	}
	ca, crt, key := filepath.Join(certs, "ca.crt"), filepath.Join(certs, "node-n1.crt"), filepath.Join(certs, "node-n1.key")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"ca alone", []string{"--tls-ca", ca}, 2, "go together"},
		{"no key", []string{"--tls-ca", ca, "--tls-cert", crt}, 2, "go together"},
		{"missing file", []string{"--tls-ca", ca, "--tls-cert", crt + ".missing", "--tls-key", key}, 1, "no such file"},
		{"another node's certificate", []string{"--tls-ca", ca, "--tls-cert", filepath.Join(certs, "node-n2.crt"), "--tls-key", filepath.Join(certs, "node-n2.key")}, 1, `is for node "n2"`},
		{"key of another certificate", []string{"--tls-ca", ca, "--tls-cert", crt, "--tls-key", filepath.Join(certs, "node-n2.key")}, 1, "private key does not match"},
		{"CA key as CA", []string{"--tls-ca", filepath.Join(certs, "ca.key"), "--tls-cert", crt, "--tls-key", key}, 1, "CA bundle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			args := append([]string{"serve", "--name", "n1", "--data", data, "--http", "127.0.0.1:0", "--rpc", "127.0.0.1:0", "--gossip", "127.0.0.1:0"}, tc.args...)
			code, _, errOut := runCmd(t, args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, want %d saying %q:\n%s", code, tc.code, tc.want, errOut)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("the data directory was created (%v)", err)
			}
		})
	}
}
