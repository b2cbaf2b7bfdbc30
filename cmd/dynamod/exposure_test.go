package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServe_refusesUnsafeStart: a node whose cluster ports are reachable
// from other hosts and that has no gossip key or node TLS exits 1 with a
// message saying how to make them, before it binds anything or touches
// its data directory.
func TestServe_refusesUnsafeStart(t *testing.T) {
	for _, args := range [][]string{
		{"--rpc", "0.0.0.0:0"},
		{"--gossip", "0.0.0.0:0"},
		{"--rpc", "0.0.0.0:0", "--gossip-key", "MDEyMzQ1Njc4OWFiY2RlZg=="}, // a key but no TLS
	} {
		data := filepath.Join(t.TempDir(), "data")
		var stdout, stderr bytes.Buffer
		all := append([]string{"serve", "--name", "n1", "--data", data, "--http", "127.0.0.1:0", "--rpc", "127.0.0.1:0", "--gossip", "127.0.0.1:0"}, args...)
		code := run(all, strings.NewReader(""), &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), "refusing to start") || !strings.Contains(stderr.String(), "dynamod certs init") {
			t.Errorf("serve %q: exit %d\n%s\nwant exit 1 saying how to make the material", args, code, stderr.String())
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("serve %q: the data directory was created (%v)", args, err)
		}
	}
}
