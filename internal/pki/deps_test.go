package pki

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: the PKI stands on the standard library alone, so the
// transport's tests and the binary can both use it.
func TestDeps(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps)
	depstest.ThirdParty(t, imps)
}
