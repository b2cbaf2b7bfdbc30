package transport

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: transport is at the bottom of the graph and imports no other
// dynamod package; its consumers declare the interfaces they call.
func TestDeps(t *testing.T) {
	depstest.Dynamod(t, depstest.Imports(t))
}
