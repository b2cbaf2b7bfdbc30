package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynamod/dynamod/client"
)

// makeCerts makes a cluster's CA, node certificates and gossip key in dir
// with dynamod certs init.
func makeCerts(t testing.TB, dir string, nodes ...string) {
	t.Helper()
	if out, code := cli(t, "certs", "init", "--dir", dir, "--nodes", strings.Join(nodes, ","), "--host", "127.0.0.1"); code != 0 {
		t.Fatalf("certs init: exit %d\n%s", code, out)
	}
}

// secure returns the serve flags of a node with the material certs init
// made in dir: node-to-node mutual TLS and gossip encryption (the files
// named after the node's --name).
func secure(dir string) []string {
	return []string{"--tls-dir", dir}
}

// memberNames lists the members p's /cluster names.
func memberNames(t testing.TB, p *proc) []string {
	t.Helper()
	st, err := getCluster(p)
	if err != nil {
		t.Fatalf("/cluster of %s: %v", p.name, err)
	}
	var names []string
	for _, m := range st.Members {
		names = append(names, m.Name)
	}
	return names
}

// TestSecurity_intruders: a node with the wrong gossip key, with no
// certificate, or with a certificate of another CA cannot join a cluster
// that runs mutual TLS and gossip encryption, nor read or write through
// it; a node with the cluster's material joins (the control).
func TestSecurity_intruders(t *testing.T) {
	dir, other, wrongKey := t.TempDir(), t.TempDir(), t.TempDir()
	makeCerts(t, dir, "n1", "n2", "x", "y")
	makeCerts(t, other, "x")
	if out, code := cli(t, "certs", "gossip-key", "--dir", wrongKey); code != 0 {
		t.Fatalf("certs gossip-key: exit %d\n%s", code, out)
	}
	n1 := newProc(t, "n1", secure(dir)...)
	n1.start()
	n2 := newProc(t, "n2", secure(dir)...)
	n2.start("--join", n1.gossipAddr())
	for _, p := range []*proc{n1, n2} {
		waitMembers(t, p, 2)
	}
	cl, err := client.New([]string{n1.url(), n2.url()}, client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Put(t.Context(), "b", "k", "", []byte("cluster's"), &client.WriteOptions{W: "all"}); err != nil {
		t.Fatal(err)
	}

	withMaterial := func(tlsDir, keyDir string) []string {
		return []string{
			"--tls-ca", filepath.Join(tlsDir, "ca.crt"),
			"--tls-cert", filepath.Join(tlsDir, "node-x.crt"),
			"--tls-key", filepath.Join(tlsDir, "node-x.key"),
			"--gossip-key-file", filepath.Join(keyDir, "gossip.key"),
		}
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"wrong gossip key", withMaterial(dir, wrongKey)},
		{"no certificate", []string{"--gossip-key-file", filepath.Join(dir, "gossip.key")}},
		{"another CA's certificate", withMaterial(other, dir)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newProc(t, "x", tc.args...)
			x.launch("--join", n1.gossipAddr())
			// For 8 s (push-pull runs every 5 s) no member admits x.
			deadline := time.Now().Add(8 * time.Second)
			for time.Now().Before(deadline) {
				for _, p := range []*proc{n1, n2} {
					if names := memberNames(t, p); slices.Contains(names, "x") {
						t.Fatalf("%s admitted the intruder: members %v", p.name, names)
					}
				}
				time.Sleep(250 * time.Millisecond)
			}
			// Whatever x believes, it reads nothing of the cluster's and
			// writes nothing into it.
			resp, body := doMaybe(x.url()+"/kv/b/k", "GET", "")
			if resp == 200 && strings.Contains(body, "cluster's") {
				t.Errorf("the intruder read the cluster's value")
			}
			doMaybe(x.url()+"/kv/b/intruded", "PUT", "evil")
			for _, p := range []*proc{n1, n2} {
				r, _ := doMaybe(p.url()+"/kv/b/intruded?r=all", "GET", "")
				if r != 404 {
					t.Errorf("%s answers %d for the key the intruder wrote, want 404", p.name, r)
				}
			}
			x.kill()
		})
	}

	// The control: a node with the cluster's material joins. (Another
	// name: memberlist keeps the dead intruders' name at their address.)
	t.Run("the cluster's material", func(t *testing.T) {
		y := newProc(t, "y", secure(dir)...)
		y.start("--join", n1.gossipAddr())
		for _, p := range []*proc{n1, n2, y} {
			waitMembers(t, p, 3)
		}
	})
}

// doMaybe sends a request and returns its status and body, or 0 if the
// node did not answer (an intruder may have exited).
func doMaybe(url, method, body string) (int, string) {
	resp, b, err := tryDo(method, url, body, nil)
	if err != nil {
		return 0, ""
	}
	return resp.StatusCode, b
}

// TestSecurity_gossipKeyRotationUnderLoad: a new gossip key is installed,
// made primary and the old one removed, through one node, while clients
// read and write: no request fails, no acknowledged write is lost, the
// members stay alive to each other, and afterwards a node with only the
// old key cannot join.
func TestSecurity_gossipKeyRotationUnderLoad(t *testing.T) {
	dir, next := t.TempDir(), t.TempDir()
	makeCerts(t, dir, "n1", "n2", "n3", "late")
	if out, code := cli(t, "certs", "gossip-key", "--dir", next); code != 0 {
		t.Fatalf("certs gossip-key: exit %d\n%s", code, out)
	}
	ps := startCluster(t, 3, secure(dir)...)
	cl, err := client.New([]string{ps[0].url(), ps[1].url(), ps[2].url()}, client.WithTimeout(5*time.Second), client.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}

	// Load: 4 writers of fresh keys, each write read back, bounded in
	// count and time.
	var (
		mu      sync.Mutex
		acked   = map[string]string{}
		ops     atomic.Int64
		failed  atomic.Int64
		firstMu sync.Mutex
		first   error
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	deadline := time.Now().Add(60 * time.Second)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; i < 5000 && time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				key, val := fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("v%d", i)
				ops.Add(1)
				if _, err := cl.Put(t.Context(), "rot", key, "", []byte(val), nil); err != nil {
					failed.Add(1)
					firstMu.Lock()
					first = cmpErr(first, err)
					firstMu.Unlock()
					continue
				}
				mu.Lock()
				acked[key] = val
				mu.Unlock()
				ops.Add(1)
				if _, err := cl.Get(t.Context(), "rot", key, nil); err != nil {
					failed.Add(1)
				}
			}
		})
	}

	rotate := func(args ...string) {
		t.Helper()
		all := append([]string{"gossip-key"}, args...)
		all = append(all, "--node", ps[1].url())
		out, code := cli(t, all...)
		if code != 0 {
			t.Fatalf("gossip-key %v: exit %d\n%s", args, code, out)
		}
		t.Logf("gossip-key %v:\n%s", args, out)
	}
	time.Sleep(time.Second)
	newKey, oldKey := filepath.Join(next, "gossip.key"), filepath.Join(dir, "gossip.key")
	rotate("install", "--key-file", newKey)
	time.Sleep(time.Second)
	rotate("use", "--key-file", newKey)
	time.Sleep(time.Second)
	rotate("remove", "--key-file", oldKey)
	// Gossip with the new key alone for a while, under load.
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed during the rotation; first: %v", n, ops.Load(), first)
	}
	t.Logf("%d requests during the rotation", ops.Load())
	for _, p := range ps {
		waitMembers(t, p, 3)
	}
	for key, val := range acked {
		obj, err := cl.Get(t.Context(), "rot", key, &client.ReadOptions{R: "all"})
		if err != nil || len(obj.Siblings) != 1 || string(obj.Siblings[0].Value) != val {
			t.Fatalf("acknowledged %s=%s reads %v, %v", key, val, obj, err)
		}
	}

	// Only the new key opens the cluster now.
	late := newProc(t, "late", secure(dir)...)
	late.launch("--join", ps[0].gossipAddr())
	if exited, err := late.wait(20 * time.Second); !exited || err == nil {
		t.Errorf("a node with the removed key: exited %v (%v), want a failed join", exited, err)
	}
	for _, p := range ps {
		if names := memberNames(t, p); slices.Contains(names, "late") {
			t.Errorf("%s admitted a node with the removed key: %v", p.name, names)
		}
	}
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// TestSecurity_clientCertificates: a node started with --http-client-ca
// serves only clients that present a certificate of that CA (health
// checks excepted); dynamod certs client makes one and the CLI sends it
// with --cert and --key.
func TestSecurity_clientCertificates(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	makeCerts(t, dir, "n1")
	makeCerts(t, other, "x")
	for _, d := range []string{dir, other} {
		if out, code := cli(t, "certs", "client", "--dir", d, "--name", "app"); code != 0 {
			t.Fatalf("certs client: exit %d\n%s", code, out)
		}
	}
	p := newProc(t, "n1", "--http-tls-cert", filepath.Join(dir, "node-n1.crt"), "--http-tls-key", filepath.Join(dir, "node-n1.key"),
		"--http-client-ca", filepath.Join(dir, "ca.crt"))
	p.https = true
	p.start() // waits for /ready without a client certificate
	withCert := func(d string) []string {
		return []string{"--node", p.url(), "--ca", filepath.Join(dir, "ca.crt"),
			"--cert", filepath.Join(d, "client-app.crt"), "--key", filepath.Join(d, "client-app.key")}
	}
	if out, code := cli(t, append([]string{"put", "b", "k", "v"}, withCert(dir)...)...); code != 0 {
		t.Fatalf("put with the cluster's client certificate: exit %d\n%s", code, out)
	}
	out, code := cli(t, "get", "b", "k", "--node", p.url(), "--ca", filepath.Join(dir, "ca.crt"))
	if code == 0 || !strings.Contains(out, "client certificate") {
		t.Errorf("get without a client certificate: exit %d\n%s\nwant a refusal that names the client certificate", code, out)
	}
	if out, code := cli(t, append([]string{"get", "b", "k"}, withCert(other)...)...); code == 0 {
		t.Errorf("get with another CA's client certificate: exit 0\n%s", out)
	}
	out, code = cli(t, append([]string{"get", "b", "k"}, withCert(dir)...)...)
	if code != 0 || !strings.Contains(out, "v") {
		t.Errorf("get with the cluster's client certificate: exit %d\n%s", code, out)
	}
}
