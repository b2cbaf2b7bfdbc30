package node

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: node wires the server's parts, and takes its transport and
// engines from its caller (cmd/dynamod, internal/clustertest); it imports
// client only for the /cluster types it fills.
func TestDeps(t *testing.T) {
	depstest.Dynamod(t, depstest.Imports(t),
		"versioning", "ring", "ownership", "storage", "resolve", "quorum", "antientropy", "transfer",
		"gossip", "http", "client", "auth", "internal/rates", "pbs", "crdt")
}
