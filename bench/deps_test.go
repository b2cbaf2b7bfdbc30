package bench

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: the load generator is a client of the wire protocol and
// imports no server-side package.
func TestDeps(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps, "client")
	depstest.ThirdParty(t, imps)
}
