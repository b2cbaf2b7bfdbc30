package versioning

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDepsStayPure keeps the package pure: the standard library and xxhash
// only, no I/O, clock, randomness, goroutine machinery or logging, and no
// other dynamod package.
func TestDepsStayPure(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps)
	depstest.ThirdParty(t, imps, "github.com/cespare/xxhash/v2")
	depstest.Ban(t, imps, depstest.Impure)
}
