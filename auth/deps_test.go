package auth

import (
	"maps"
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDeps: auth is pure but for the randomness and the time its caller
// passes in (it uses time.Time as a value and reads no clock): the
// standard library alone, no other dynamod package, no I/O.
func TestDeps(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps)
	depstest.ThirdParty(t, imps)
	banned := maps.Clone(depstest.Impure)
	delete(banned, "time") // time.Time values only; the clock is the caller's
	banned["crypto/rand"] = "take randomness as input"
	depstest.Ban(t, imps, banned)
	depstest.NotCalled(t, "take the time as input", "time.Now(", "time.Since(")
}
