package lifetime

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: the goroutine group uses the standard library alone, so any
// package may use it.
func TestDeps(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps)
	depstest.ThirdParty(t, imps)
}
