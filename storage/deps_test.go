package storage

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: storage imports versioning for its types and nothing else of
// dynamod; never quorum, ring, transport or anything above them.
func TestDeps(t *testing.T) {
	depstest.Dynamod(t, depstest.Imports(t), "versioning")
}
