package quorum

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: quorum reaches peers through its Transport and membership
// through Members, so it never imports gossip, a transport, http, node or
// antientropy; of dynamod it uses the pure core, storage, resolve, pbs (its
// staleness samples) and the internal helpers. It uses storage's Store and codec but never constructs
// a store or an engine: the node hands it one.
func TestDeps(t *testing.T) {
	depstest.Dynamod(t, depstest.Imports(t),
		"versioning", "ring", "storage", "resolve", "pbs", "crdt", "internal/wire", "internal/jitter", "internal/lifetime", "internal/rates")
	depstest.NotCalled(t, "quorum is handed its store by the node", "storage.NewMemory", "storage.OpenLevelDB", "storage.NewStore")
}
