package http

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: http uses quorum and versioning for their types and sentinels
// only; everything it does goes through Backend, so it never imports
// storage, gossip, transport or node. auth checks its bearer tokens; the
// pure crdt parses data-type operations and renders their values.
func TestDeps(t *testing.T) {
	depstest.Dynamod(t, depstest.Imports(t), "quorum", "versioning", "auth", "crdt")
}
