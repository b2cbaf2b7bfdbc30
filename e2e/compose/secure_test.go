package compose

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var secureNodes = append(slices.Clone(threeNodes), "../../deploy/docker-compose.secure.yml")

// authTransport adds a bearer token to every request.
type authTransport struct {
	base  http.RoundTripper
	token string
}

func (a authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if a.token != "" {
		r.Header.Set("Authorization", "Bearer "+a.token)
	}
	return a.base.RoundTrip(r)
}

// createToken makes a token inside svc through its loopback admin
// listener, which needs none, and returns it.
func (c *cluster) createToken(svc, name string, grants ...string) string {
	c.t.Helper()
	args := []string{"exec", c.id(svc), "/dynamod", "token", "create", "--node", "http://127.0.0.1:7072", "--name", name}
	for _, g := range grants {
		args = append(args, "--grant", g)
	}
	out, err := c.docker(args...)
	if err != nil {
		c.t.Fatalf("token create: %v\n%s", err, out)
	}
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "dmd_") {
			return f
		}
	}
	c.t.Fatalf("token create printed no token:\n%s", out)
	return ""
}

// secureSetup makes the cluster's clients speak HTTPS with the cluster CA
// (copied out of the certs volume) and a cluster-admin token.
func secureSetup(c *cluster) {
	c.t.Helper()
	token := c.createToken("n1", "e2e", "admin")
	caFile := filepath.Join(c.t.TempDir(), "ca.crt")
	if out, err := c.docker("cp", c.id("n1")+":/certs/ca.crt", caFile); err != nil {
		c.t.Fatalf("copy the CA out: %v\n%s", err, out)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		c.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		c.t.Fatalf("no certificate in %s", caFile)
	}
	base := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	c.http = &http.Client{Timeout: 15 * time.Second, Transport: authTransport{base: base, token: token}}
	c.scheme = "https"
	c.execEnv = []string{"DYNAMOD_NODE=https://127.0.0.1:7070", "DYNAMOD_CA=/certs/ca.crt", "DYNAMOD_TOKEN=" + token}
}

// TestSecure brings up the demo cluster with docker-compose.secure.yml:
// node-to-node mutual TLS, gossip encryption, an HTTPS client API that
// wants tokens. It checks what a client and an intruder on the cluster's
// network can and cannot do.
func TestSecure(t *testing.T) {
	c := upWith(t, secureNodes, secureSetup, "n1", "n2", "n3")

	// The published port speaks only TLS, and only to a token.
	plain := strings.Replace(c.url("n1"), "https://", "http://", 1)
	if resp, err := http.Get(plain + "/kv/" + bucket + "/k"); err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("plain HTTP to the client port: %d", resp.StatusCode)
		}
	}
	noToken := &http.Client{Timeout: 10 * time.Second, Transport: c.http.Transport.(authTransport).base}
	resp, err := noToken.Get(c.url("n1") + "/kv/" + bucket + "/k")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("HTTPS without a token: %d, want 401", resp.StatusCode)
	}

	// Replication goes over mutual TLS: a write through n1 reads back
	// from every replica through n3.
	c.mustPut("n1", "k", "v1", "")
	if s := c.mustGet("n3", "k"); len(s.Values) != 1 || s.Values[0] != "v1" {
		t.Fatalf("n3 reads %v, want v1", s)
	}
	if s, err := c.get("n2", "k", "all"); err != nil || len(s.Values) != 1 || s.Values[0] != "v1" {
		t.Fatalf("r=all via n2: %v %v", s, err)
	}

	// A token that may only read gets 403 on a write, which changes
	// nothing.
	reader := c.createToken("n2", "reader", "read:"+bucket)
	rc := &http.Client{Timeout: 10 * time.Second, Transport: authTransport{base: noToken.Transport, token: reader}}
	req, _ := http.NewRequest("PUT", c.url("n2")+"/kv/"+bucket+"/k", strings.NewReader("evil"))
	req.Header.Set("Content-Type", "text/plain")
	if resp, err := rc.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("write with a read token: %d, want 403", resp.StatusCode)
		}
	}
	if resp, err := rc.Get(c.url("n2") + "/kv/" + bucket + "/k"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("read with a read token: %d, want 200", resp.StatusCode)
		}
	}
	if s := c.mustGet("n1", "k"); len(s.Values) != 1 || s.Values[0] != "v1" {
		t.Fatalf("after the refused write n1 reads %v, want v1", s)
	}

	// An intruder on the cluster's network with the gossip key (stolen
	// from the volume) but a CA of its own: it gossips, but no node admits
	// it into its rings, so it is sent nothing.
	vol := c.project + "_rogue"
	if out, err := c.docker("volume", "create", "--label", "com.docker.compose.project="+c.project, vol); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { _, _ = c.docker("volume", "rm", "-f", vol) })
	if out, err := c.docker("run", "--rm", "-v", vol+":/data", c.image,
		"certs", "init", "--dir", "/data/pki", "--nodes", "rogue"); err != nil {
		t.Fatalf("rogue certs: %v\n%s", err, out)
	}
	rogue := c.project + "-rogue"
	if out, err := c.docker("run", "-d", "--name", rogue, "--label", "com.docker.compose.project="+c.project,
		"--network", c.network, "--network-alias", "rogue", "-v", vol+":/data", "-v", c.project+"_certs:/certs:ro", c.image,
		"serve", "--name", "rogue", "--data", "/data/db", "--advertise", "rogue", "--join", "n1:7946",
		"--gossip-key-file", "/certs/gossip.key", "--tls-ca", "/data/pki/ca.crt",
		"--tls-cert", "/data/pki/node-rogue.crt", "--tls-key", "/data/pki/node-rogue.key", "--client-auth", "off"); err != nil {
		t.Fatalf("rogue: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = c.docker("rm", "-f", rogue) })
	deadline := time.Now().Add(12 * time.Second)
	for time.Now().Before(deadline) {
		for _, svc := range []string{"n1", "n2", "n3"} {
			doc, err := c.view(svc)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range doc.Members {
				if m.Name == "rogue" {
					t.Fatalf("%s admitted the rogue node: %+v", svc, doc.Members)
				}
			}
		}
		time.Sleep(time.Second)
	}
	logs, _ := c.composeCmd("logs", "--no-color", "n1")
	if !strings.Contains(logs, "could not be verified") {
		t.Errorf("n1's log does not tell of the refused rogue member")
	}
	if s := c.mustGet("n2", "k"); len(s.Values) != 1 || s.Values[0] != "v1" {
		t.Fatalf("with the rogue around n2 reads %v, want v1", s)
	}
}
