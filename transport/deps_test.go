package transport

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: transport is at the bottom of the graph: of dynamod it imports
// only the goroutine group; its consumers declare the interfaces they call.
func TestDeps(t *testing.T) {
	depstest.Dynamod(t, depstest.Imports(t), "internal/lifetime")
}
