package clustertest

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: in-process clusters are built from node and the in-memory
// parts (memory engine, memory network, static membership): never the
// real adapters' wiring, the HTTP layer, or the wire protocol's clients.
func TestDeps(t *testing.T) {
	depstest.Forbid(t, depstest.Imports(t), "in-process clusters use node and the in-memory parts only",
		"gossip", "http", "cmd", "client", "bench", "e2e")
}
