package faulty

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: the fault injector wraps storage's engines and knows nothing
// above them.
func TestDeps(t *testing.T) {
	depstest.Dynamod(t, depstest.Imports(t), "storage")
}
