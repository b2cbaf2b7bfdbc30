package pbs

import (
	"maps"
	"testing"

	"github.com/dynamod/dynamod/internal/depstest"
)

// TestDepsStayPure: pbs is pure but for one mutex per sample window. It
// uses time.Time and time.Duration as values and reads no clock, takes its
// random source from the caller (math/rand/v2 for the *rand.Rand type
// only), uses the standard library alone and no other dynamod package.
func TestDepsStayPure(t *testing.T) {
	imps := depstest.Imports(t)
	depstest.Dynamod(t, imps)
	depstest.ThirdParty(t, imps)
	banned := maps.Clone(depstest.Impure)
	delete(banned, "time")      // values only: the caller passes the time
	delete(banned, "math/rand") // the *rand.Rand type: the caller passes the source
	delete(banned, "sync")      // the windows' mutexes: Record is concurrent
	depstest.Ban(t, imps, banned)
	depstest.NotCalled(t, "take the time and the random source as input",
		"time.Now(", "time.Since(", "time.Until(", "rand.New(", "rand.NewPCG(", "rand.IntN(", "rand.Float64(", "go func")
}
