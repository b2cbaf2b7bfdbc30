package clienttest

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: the fake server speaks the wire protocol with client's types
// and the standard library, never with the server's packages.
func TestDeps(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps, "client")
	depstest.ThirdParty(t, imps)
}
