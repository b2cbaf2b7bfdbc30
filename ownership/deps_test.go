package ownership

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDepsStayPure keeps the package pure: the standard library and ring
// only, and nothing that does I/O, keeps time, draws randomness, runs
// goroutines or logs.
func TestDepsStayPure(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps, "ring")
	depstest.ThirdParty(t, imps)
	depstest.Ban(t, imps, depstest.Impure)
}
