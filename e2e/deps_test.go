package e2e

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: the end-to-end tests drive real processes through client, as
// any program would (resolve's merge functions are for clients too, and
// versioning's context codec is the client-visible format the attack tests
// forge), and serve a webhook resolver with internal/clustertest's helper;
// never through the server's packages.
func TestDeps(t *testing.T) {
	depstest.Dynamod(t, depstest.TestImports(t), "client", "resolve", "versioning", "internal/clustertest", "internal/depstest")
}
