package antientropy

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps_documented: anti-entropy reaches its store, peers and members
// through its own interfaces, so it never imports gossip, a transport,
// http, node or quorum; of dynamod it uses the pure core, storage and the
// internal helpers. It uses storage's Store and codec but never constructs
// a store or an engine: the node hands it one.
func TestDeps_documented(t *testing.T) {
	depstest.Dynamod(t, depstest.Imports(t),
		"versioning", "ring", "storage", "internal/wire", "internal/ratelimit", "internal/jitter")
	depstest.NotCalled(t, "antientropy is handed its store by the node", "storage.NewMemory", "storage.OpenLevelDB", "storage.NewStore")
}
