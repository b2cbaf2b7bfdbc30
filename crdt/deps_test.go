package crdt

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDepsStayPure keeps the package pure: the standard library and
// versioning (for ActorID) only, and no I/O, clock, randomness, goroutine
// machinery or logging.
func TestDepsStayPure(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps, "versioning")
	depstest.ThirdParty(t, imps)
	depstest.Ban(t, imps, depstest.Impure)
}
