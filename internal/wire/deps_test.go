package wire

import (
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps keeps the encoder primitives of both node protocols pure: the
// standard library alone, and no I/O, clock, randomness, goroutines or
// logging.
func TestDeps(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps)
	depstest.ThirdParty(t, imps)
	depstest.Ban(t, imps, depstest.Impure)
}
