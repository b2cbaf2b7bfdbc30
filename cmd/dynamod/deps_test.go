package main

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: the binary wires the server from its parts and the
// subcommands from client and bench, serves the dashboard of ui, and
// links no test harness.
func TestDeps(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps, "node", "http", "gossip", "transport", "storage", "client", "bench", "internal/pki", "internal/sched", "ui")
	depstest.Forbid(t, imps, "a test harness in the binary",
		"internal/clustertest", "internal/depstest", "storage/faulty", "storage/storagetest", "client/clienttest")
}
