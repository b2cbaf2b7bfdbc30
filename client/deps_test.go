package client

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: client is the wire protocol's client: the standard library
// alone, no other dynamod package.
func TestDeps(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps)
	depstest.ThirdParty(t, imps)
}
