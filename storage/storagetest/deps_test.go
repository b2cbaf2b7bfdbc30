package storagetest

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: the conformance suite tests storage's engines and knows
// nothing above them.
func TestDeps(t *testing.T) {
	depstest.Dynamod(t, depstest.Imports(t), "storage")
}
