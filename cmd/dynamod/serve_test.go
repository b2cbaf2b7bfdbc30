package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDigestRead(t *testing.T) {
	for flag, want := range map[int]int{0: -1, 1: 1, 4096: 4096, 1 << 20: 1 << 20} {
		if got := digestRead(flag); got != want {
			t.Errorf("digestRead(%d) = %d, want %d", flag, got, want)
		}
	}
}

func TestServe_refusesNegativeDigestRead(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	var stdout, stderr bytes.Buffer
	code := run([]string{"serve", "--name", "n1", "--data", data, "--http", "127.0.0.1:0", "--rpc", "127.0.0.1:0",
		"--gossip", "127.0.0.1:0", "--digest-read", "-1"}, strings.NewReader(""), &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "--digest-read must be 0 (never) or a size in bytes") {
		t.Errorf("serve --digest-read -1: exit %d\n%s\nwant exit 2 naming the flag", code, stderr.String())
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("the data directory was created (%v)", err)
	}
}

func TestServe_refusesUnknownSched(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	var stdout, stderr bytes.Buffer
	code := run([]string{"serve", "--name", "n1", "--data", data, "--http", "127.0.0.1:0", "--rpc", "127.0.0.1:0",
		"--gossip", "127.0.0.1:0", "--sched", "fifo"}, strings.NewReader(""), &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), `--sched must be batch or inherit, got "fifo"`) {
		t.Errorf("serve --sched fifo: exit %d\n%s\nwant exit 2 naming the flag", code, stderr.String())
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("the data directory was created (%v)", err)
	}
}
