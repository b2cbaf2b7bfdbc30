package compose

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: the Compose tests drive the containers through HTTP, client's
// types and the CLI, never through the server's packages.
func TestDeps(t *testing.T) {
	depstest.Dynamod(t, depstest.TestImports(t), "client", "internal/depstest")
}
