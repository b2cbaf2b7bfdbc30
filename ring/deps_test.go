package ring

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDepsStayPure keeps the package pure: the standard library and xxhash
// only, nothing that does I/O, keeps time, draws randomness, runs
// goroutines or logs, and no other dynamod package (the ring is a function
// of its members).
func TestDepsStayPure(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps)
	depstest.ThirdParty(t, imps, "github.com/cespare/xxhash/v2")
	depstest.Ban(t, imps, depstest.Impure)
}
